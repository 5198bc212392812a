package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// CourseResponse is an entry of the organization's catalog.
type CourseResponse struct {
	ID             string `json:"id" format:"uuid"`
	OrganizationID string `json:"organization_id" format:"uuid"`
	Name           string `json:"name" example:"Fire Safety"`
	// Unique in the organization, case-insensitively; null when the course has none.
	Code        *string `json:"code" example:"FS-101" extensions:"x-nullable"`
	Description string  `json:"description" example:"Exits, alarms and extinguishers."`
	CreatedAt   string  `json:"created_at" format:"date-time"`
	UpdatedAt   string  `json:"updated_at" format:"date-time"`
} // @name Course

func courseResponse(c *lms.Course) CourseResponse {
	var code *string
	if c.Code != "" {
		code = &c.Code
	}
	return CourseResponse{ID: c.ID, OrganizationID: c.OrganizationID, Name: c.Name, Code: code,
		Description: c.Description, CreatedAt: stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt)}
}

// CourseList is a page of courses.
type CourseList struct {
	Data       []CourseResponse `json:"data"`
	NextCursor *string          `json:"next_cursor" extensions:"x-nullable"`
} // @name CourseList

// CreateCourseRequest adds a course to the catalog.
type CreateCourseRequest struct {
	Name string `json:"name" example:"Fire Safety"`
	// Optional; at most 64 characters, unique in the organization (case-insensitive).
	Code string `json:"code,omitempty" example:"FS-101"`
	// Optional; at most 10000 characters.
	Description string `json:"description,omitempty"`
} // @name CreateCourseRequest

// UpdateCourseRequest changes a course; absent fields stay as they are.
type UpdateCourseRequest struct {
	Name *string `json:"name,omitempty"`
	// An empty string removes the code.
	Code *string `json:"code,omitempty"`
	// An empty string clears the description.
	Description *string `json:"description,omitempty"`
} // @name UpdateCourseRequest

// listCourses godoc
//
//	@Summary     Courses of the organization's catalog
//	@Description Full and Limited Managers. The caller's organization's catalog, oldest first unless sort says otherwise; q searches the name and the code. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        courses
//	@Produce     json
//	@Param       q      query    string false "case-insensitive substring of the name or code (% and _ match themselves)"
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at, name)
//	@Success     200    {object} CourseList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, a q longer than 200 characters or with control characters, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Security    BearerAuth
//	@ID          listCourses
//	@Router  /api/v1/courses [get]
func (s *Server) listCourses(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.Courses.FindCourses(c.Request.Context(), lms.CourseFilter{PageRequest: p, Q: c.Query("q")})
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, courseResponse)
}

// createCourse godoc
//
//	@Summary     Add a course
//	@Description Full Managers only. Adds a course to the organization's catalog and answers it with a Location header; name, code and description are trimmed. Names may repeat; a code must be unique in the organization, case-insensitively (409).
//	@Tags        courses
//	@Accept      json
//	@Produce     json
//	@Param       body body     CreateCourseRequest true "the course"
//	@Success     201  {object} CourseResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     409 {object} Problem "conflict: a course with this code already exists in the organization"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank or too long name, a code over 64 characters, a description over 10000 characters, or control characters"
//	@Security    BearerAuth
//	@ID          createCourse
//	@Router  /api/v1/courses [post]
func (s *Server) createCourse(c *gin.Context) {
	var req CreateCourseRequest
	if !bindJSON(c, &req) {
		return
	}
	course, err := s.Services.Courses.CreateCourse(c.Request.Context(),
		lms.NewCourse{Name: req.Name, Code: req.Code, Description: req.Description})
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/courses/"+course.ID)
	writeJSON(c, http.StatusCreated, courseResponse(course))
}

// getCourse godoc
//
//	@Summary     A course
//	@Description Full and Limited Managers. One course of the organization's catalog.
//	@Tags        courses
//	@Produce     json
//	@Param       id  path     string true "course ID" format(uuid)
//	@Success     200 {object} CourseResponse
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is neither a full_manager nor a limited_manager"
//	@Failure     404 {object} Problem "not_found: no such course in the caller's organization"
//	@Security    BearerAuth
//	@ID          getCourse
//	@Router  /api/v1/courses/{id} [get]
func (s *Server) getCourse(c *gin.Context) {
	course, err := s.Services.Courses.FindCourseByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, courseResponse(course))
}

// updateCourse godoc
//
//	@Summary     Change a course
//	@Description Full Managers only. Absent fields, and null ones, stay as they are; an empty code removes the code and an empty description clears it. A new code must be unique in the organization, case-insensitively (409). The change shows wherever the course appears: user groups, enrollments and invitation emails name it as it is now.
//	@Tags        courses
//	@Accept      json
//	@Produce     json
//	@Param       id   path     string              true "course ID" format(uuid)
//	@Param       body body     UpdateCourseRequest true "fields to change"
//	@Success     200  {object} CourseResponse
//	@Failure     400 {object} Problem "malformed JSON, an unknown field or a value of the wrong type"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such course in the caller's organization"
//	@Failure     409 {object} Problem "conflict: another course of the organization has this code"
//	@Failure     413 {object} Problem "the body is larger than ENROLLKIT_BODY_LIMIT (1 MiB by default)"
//	@Failure     415 {object} Problem "a Content-Type other than application/json"
//	@Failure     422 {object} Problem "validation_failed: a blank or too long name, a code over 64 characters, a description over 10000 characters, or control characters"
//	@Security    BearerAuth
//	@ID          updateCourse
//	@Router  /api/v1/courses/{id} [patch]
func (s *Server) updateCourse(c *gin.Context) {
	var req UpdateCourseRequest
	if !bindJSON(c, &req) {
		return
	}
	course, err := s.Services.Courses.UpdateCourse(c.Request.Context(), c.Param("id"),
		lms.CourseUpdate{Name: req.Name, Code: req.Code, Description: req.Description})
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, courseResponse(course))
}

// deleteCourse godoc
//
//	@Summary     Remove a course
//	@Description Full Managers only. The course leaves the catalog and every user group it is in. A course anybody is enrolled in cannot be removed (409). Not idempotent: deleting it again is 404.
//	@Tags        courses
//	@Param       id path string true "course ID" format(uuid)
//	@Success     204
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the caller is not a full_manager"
//	@Failure     404 {object} Problem "not_found: no such course in the caller's organization (or it was deleted already)"
//	@Failure     409 {object} Problem "conflict: the course has enrollments"
//	@Security    BearerAuth
//	@ID          deleteCourse
//	@Router      /api/v1/courses/{id} [delete]
func (s *Server) deleteCourse(c *gin.Context) {
	if err := s.Services.Courses.DeleteCourse(c.Request.Context(), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
