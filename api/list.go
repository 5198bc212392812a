package api

import (
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/enrollkit/enrollkit/pkg/lms"
)

// pageRequest reads ?limit=, ?cursor= and ?sort=. A limit that is not a
// number is refused here; range and sort keys are checked by the service.
func pageRequest(c *gin.Context) (lms.PageRequest, bool) {
	p := lms.PageRequest{Cursor: c.Query("cursor"), Sort: c.Query("sort")}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > lms.MaxPageLimit {
			abortWith(c, lms.EBadRequest, "limit must be a whole number from 1 to %d", lms.MaxPageLimit)
			return p, false
		}
		p.Limit = n
	}
	return p, true
}

// writePage answers a list page as {"data": [...], "next_cursor": ...} with
// a Link header to the next page, mapping each item with conv.
func writePage[T, R any](c *gin.Context, page *lms.Page[T], conv func(T) R) {
	data := make([]R, len(page.Items))
	for i, it := range page.Items {
		data[i] = conv(it)
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
		u := url.URL{Path: c.Request.URL.Path}
		q := c.Request.URL.Query()
		q.Set("cursor", page.NextCursor)
		u.RawQuery = q.Encode()
		c.Header("Link", "<"+u.String()+`>; rel="next"`)
	}
	writeJSON(c, 200, listResponse[R]{Data: data, NextCursor: next})
}

type listResponse[R any] struct {
	Data       []R     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// optionalString returns a pointer to the query value when present.
func optionalString(c *gin.Context, key string) *string {
	if v, ok := c.GetQuery(key); ok {
		return &v
	}
	return nil
}
