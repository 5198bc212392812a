package api

import (
	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// EnrollmentResponse is the caller's place in a course.
type EnrollmentResponse struct {
	ID         string  `json:"id" format:"uuid"`
	UserID     string  `json:"user_id" format:"uuid"`
	CourseID   string  `json:"course_id" format:"uuid"`
	CourseName string  `json:"course_name" example:"Fire Safety"`
	CourseCode *string `json:"course_code" example:"FS-101" extensions:"x-nullable"`
	// The user group that enrolled the user; null once that group is deleted.
	UserGroupID *string `json:"user_group_id" format:"uuid" extensions:"x-nullable"`
	CreatedAt   string  `json:"created_at" format:"date-time"`
} // @name Enrollment

func enrollmentResponse(e *lms.Enrollment) EnrollmentResponse {
	var code *string
	if e.CourseCode != "" {
		code = &e.CourseCode
	}
	return EnrollmentResponse{ID: e.ID, UserID: e.UserID, CourseID: e.CourseID, CourseName: e.CourseName,
		CourseCode: code, UserGroupID: e.UserGroupID, CreatedAt: stamp(e.CreatedAt)}
}

// EnrollmentList is a page of enrollments.
type EnrollmentList struct {
	Data       []EnrollmentResponse `json:"data"`
	NextCursor *string              `json:"next_cursor" extensions:"x-nullable"`
} // @name EnrollmentList

// requireUser admits people only: integration clients are refused with 403
// insufficient_role on routes about the caller as a person.
func requireUser(c *gin.Context) {
	if a := lms.ActorFromContext(c.Request.Context()); a == nil || a.Kind != lms.ActorUser {
		abortWith(c, lms.EInsufficientRole, "this requires a person's token; integration clients have no enrollments")
		return
	}
	c.Next()
}

// myEnrollments godoc
//
//	@Summary     The caller's enrollments
//	@Description Any person may call it (learners are its main audience); integration clients get 403 insufficient_role. The courses the caller is enrolled in, with each course's name and code as they are now and the user group that enrolled them, oldest first unless sort says otherwise. Keyset-paginated: up to limit items (default 50, at most 200) and, while more follow, next_cursor and a Link header with rel="next" to the next page; a cursor works only with the sort it was made for.
//	@Tags        enrollments
//	@Produce     json
//	@Param       limit  query    int    false "page size (1-200, default 50)"
//	@Param       cursor query    string false "next_cursor of the previous page"
//	@Param       sort   query    string false "order" Enums(created_at, -created_at)
//	@Success     200    {object} EnrollmentList
//	@Failure     400 {object} Problem "limit not from 1 to 200, an unknown sort, or a cursor not made for this list and sort"
//	@Failure     401 {object} Problem "no valid access token (missing, expired, or ended: user disabled, deleted, signed out, role or password changed; client deleted)"
//	@Failure     403 {object} Problem "insufficient_role: the token is an integration client's, and only people have enrollments"
//	@Security    BearerAuth
//	@ID          listMyEnrollments
//	@Router      /api/v1/me/enrollments [get]
func (s *Server) myEnrollments(c *gin.Context) {
	p, ok := pageRequest(c)
	if !ok {
		return
	}
	page, err := s.Services.Enrollments.FindMyEnrollments(c.Request.Context(), p)
	if err != nil {
		writeError(c, err)
		return
	}
	writePage(c, page, enrollmentResponse)
}
