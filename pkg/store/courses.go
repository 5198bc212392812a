package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

type course struct {
	ID             string
	OrganizationID string
	Name           string
	NameKey        string
	Code           *string
	CodeKey        *string
	Description    string
	Search         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (*course) columns() string {
	return "id, organization_id, name, name_key, code, code_key, description, search, created_at, updated_at"
}

func (c *course) fields(dst []any) []any {
	return append(dst[:0], &c.ID, &c.OrganizationID, &c.Name, &c.NameKey, &c.Code, &c.CodeKey, &c.Description, &c.Search,
		&c.CreatedAt, &c.UpdatedAt)
}

func (c *course) domain() *lms.Course {
	code := ""
	if c.Code != nil {
		code = *c.Code
	}
	return &lms.Course{ID: c.ID, OrganizationID: c.OrganizationID, Name: c.Name, Code: code,
		Description: c.Description, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// setName, setCode and setDescription change one field of c and the lower-cased
// columns computed from it.
func (c *course) setName(name string) {
	c.Name, c.NameKey = name, strings.ToLower(name)
	c.setSearch()
}

func (c *course) setCode(code string) {
	c.Code, c.CodeKey = nil, nil
	if code != "" {
		key := strings.ToLower(code)
		c.Code, c.CodeKey = &code, &key
	}
	c.setSearch()
}

func (c *course) setSearch() {
	c.Search = c.NameKey
	if c.CodeKey != nil {
		c.Search += " " + *c.CodeKey
	}
}

// newCourse validates in and returns the row to insert.
func newCourse(org string, in lms.NewCourse, now time.Time) (*course, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	c := &course{ID: newID(), OrganizationID: org, Description: in.Description, CreatedAt: now, UpdatedAt: now}
	c.setName(in.Name)
	c.setCode(in.Code)
	return c, nil
}

// errCourseCodeTaken is the conflict of a duplicate course code.
func errCourseCodeTaken() error {
	return lms.Errorf(lms.EConflict, "a course with this code already exists in the organization")
}

func findCourse(tx *gorm.DB, org, id string) (*course, error) {
	if !lms.ValidID(id) {
		return nil, lms.Errorf(lms.ENotFound, "course not found")
	}
	var c course
	if err := tx.Where("organization_id = ? AND id = ?", org, id).Take(&c).Error; err != nil {
		return nil, translate(err, "course")
	}
	return &c, nil
}

// FindCourseByID implements lms.CourseService.
func (s *Catalog) FindCourseByID(ctx context.Context, id string) (*lms.Course, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	c, err := findCourse(s.q(ctx), org, id)
	if err != nil {
		return nil, err
	}
	return c.domain(), nil
}

var courseSorts = map[string]sortSpec[course]{
	"created_at":  {id: func(c *course) string { return c.ID }},
	"-created_at": {desc: true, id: func(c *course) string { return c.ID }},
	"name":        {column: "name_key", key: func(c *course) string { return c.NameKey }, id: func(c *course) string { return c.ID }},
}

// courseSortKeys is the allow-list of course lists; the first is the default.
var courseSortKeys = []string{"created_at", "-created_at", "name"}

// FindCourses implements lms.CourseService.
func (s *Catalog) FindCourses(ctx context.Context, f lms.CourseFilter) (*lms.Page[*lms.Course], error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Normalize(courseSortKeys...); err != nil {
		return nil, err
	}
	q := s.q(ctx).Where("organization_id = ?", org)
	if err := lms.CheckQuery(f.Q); err != nil {
		return nil, err
	}
	if strings.TrimSpace(f.Q) != "" {
		q = q.Where(`search LIKE ? ESCAPE '\'`, searchPattern(f.Q))
	}
	return listPage(q, f.PageRequest, courseSorts[f.Sort], (*course).domain)
}

// CreateCourse implements lms.CourseService.
func (s *Catalog) CreateCourse(ctx context.Context, in lms.NewCourse) (*lms.Course, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	c, err := newCourse(org, in, s.now())
	if err != nil {
		return nil, err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "course.create", "course", c.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, errCourseCodeTaken()
	}
	if err != nil {
		return nil, translate(err, "course")
	}
	return c.domain(), nil
}

// UpdateCourse implements lms.CourseService.
func (s *Catalog) UpdateCourse(ctx context.Context, id string, upd lms.CourseUpdate) (*lms.Course, error) {
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	return s.updateCourse(ctx, id, func(c *lms.Course) error {
		c.Apply(upd, s.now())
		return nil
	})
}

// updateCourse reads the course locked, lets apply change it, and writes
// it back with the columns computed from it, in one transaction.
func (s *Catalog) updateCourse(ctx context.Context, id string, apply func(*lms.Course) error) (*lms.Course, error) {
	org, err := orgID(ctx)
	if err != nil {
		return nil, err
	}
	var out *lms.Course
	err = s.tx(ctx, func(tx *gorm.DB) error {
		row, err := findCourse(tx.Clauses(lockRow), org, id)
		if err != nil {
			return err
		}
		c := row.domain()
		if err := apply(c); err != nil {
			return err
		}
		row.setName(c.Name)
		row.setCode(c.Code)
		row.Description, row.UpdatedAt = c.Description, c.UpdatedAt
		out = row.domain()
		// A map, so that an emptied description or removed code is written.
		if err := tx.Model(&course{}).Where("id = ?", row.ID).Updates(map[string]any{
			"name": row.Name, "name_key": row.NameKey, "code": row.Code, "code_key": row.CodeKey,
			"description": row.Description, "search": row.Search, "updated_at": row.UpdatedAt,
		}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "course.update", "course", row.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, errCourseCodeTaken()
	}
	if err != nil {
		return nil, translate(err, "course")
	}
	return out, nil
}

// DeleteCourse implements lms.CourseService. The enrollments' foreign key
// refuses the delete, so no enrollment can slip in between a check and it.
func (s *Catalog) DeleteCourse(ctx context.Context, id string) error {
	org, err := orgID(ctx)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := findCourse(tx, org, id); err != nil {
			return err
		}
		if err := tx.Where("id = ?", id).Delete(&course{}).Error; err != nil {
			return err
		}
		return s.audit(ctx, tx, "course.delete", "course", id)
	})
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return lms.Errorf(lms.EConflict, "the course has enrollments and cannot be deleted")
	}
	return translate(err, "course")
}

// importRows checks rows in memory and returns the courses to insert with
// the line of each, recording in res the rows refused: invalid fields, or a
// code an earlier row has.
func importRows(org string, rows []lms.NewCourse, now time.Time, res *lms.ImportResult) ([]*course, []int) {
	valid := make([]*course, 0, len(rows))
	validLines := make([]int, 0, len(rows))
	codeLines := map[string]int{} // code key -> line of its first row
	for i, in := range rows {
		line := in.Line
		if line == 0 {
			line = i + 1
		}
		c, err := newCourse(org, in, now)
		if err != nil {
			res.RejectInvalid(line, err)
			continue
		}
		if c.CodeKey != nil {
			if first, ok := codeLines[*c.CodeKey]; ok {
				res.Reject(line, "code %q repeats line %d", *c.Code, first)
				continue
			}
			codeLines[*c.CodeKey] = line
		}
		valid = append(valid, c)
		validLines = append(validLines, line)
	}
	return valid, validLines
}

// importBatch is how many rows one INSERT or IN list of ImportCourses
// carries: well under both dialects' limits on bound parameters.
const importBatch = 500

// ImportCourses implements lms.CourseImporter. Rows are checked in memory
// first, existing codes are read in batches, and the valid rows are inserted
// in batches, all in one transaction.
func (s *Catalog) ImportCourses(ctx context.Context, orgID string, rows []lms.NewCourse) (*lms.ImportResult, error) {
	if !lms.ValidID(orgID) {
		return nil, lms.Errorf(lms.ENotFound, "organization not found")
	}
	res := &lms.ImportResult{}
	valid, validLines := importRows(orgID, rows, s.now(), res)
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&organization{}).Where("id = ?", orgID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return lms.Errorf(lms.ENotFound, "organization not found")
		}
		var codes []string
		for _, c := range valid {
			if c.CodeKey != nil {
				codes = append(codes, *c.CodeKey)
			}
		}
		taken := map[string]bool{}
		for batch := range slices.Chunk(codes, importBatch) {
			var found []string
			if err := tx.Model(&course{}).Where("organization_id = ? AND code_key IN ?", orgID, batch).
				Pluck("code_key", &found).Error; err != nil {
				return err
			}
			for _, k := range found {
				taken[k] = true
			}
		}
		insert := valid[:0:0]
		for i, c := range valid {
			if c.CodeKey != nil && taken[*c.CodeKey] {
				res.Reject(validLines[i], "code %q already exists in the organization", *c.Code)
				continue
			}
			insert = append(insert, c)
		}
		if len(insert) > 0 {
			if err := tx.CreateInBatches(insert, importBatch).Error; err != nil {
				return err
			}
		}
		res.Created = len(insert)
		if res.Created == 0 {
			return nil
		}
		// One event for the import: it is the organization's catalog
		// that changed, by a command rather than a caller.
		return s.auditCommand(ctx, tx, orgID, "course.import", "organization", orgID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, lms.Errorf(lms.EConflict, "a course code was taken while importing; nothing was imported, run the import again")
	}
	if err != nil {
		return nil, translate(err, "course")
	}
	slices.SortStableFunc(res.Rejected, func(a, b lms.ImportRejection) int { return cmp.Compare(a.Line, b.Line) })
	return res, nil
}
