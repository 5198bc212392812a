package lms

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Page sizes for every list.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// PageRequest asks for one page of a keyset-paginated list. Cursor is the
// opaque value a previous page returned; Sort is a key from the list's
// allow-list ("" for its default order).
type PageRequest struct {
	Limit  int
	Cursor string
	Sort   string
}

// Page is one page of a list. NextCursor is "" on the last page.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// Normalize checks the page size and sort key, filling in defaults. sorts is
// the list's allow-list; its first entry is the default.
func (p *PageRequest) Normalize(sorts ...string) error {
	var v Validation
	if p.Limit == 0 {
		p.Limit = DefaultPageLimit
	}
	v.Check(p.Limit >= 1 && p.Limit <= MaxPageLimit, "limit", fmt.Sprintf("must be between 1 and %d", MaxPageLimit))
	if p.Sort == "" && len(sorts) > 0 {
		p.Sort = sorts[0]
	}
	v.Check(p.Sort == "" || slices.Contains(sorts, p.Sort), "sort", "must be one of the documented sort keys")
	if err := v.Err(); err != nil {
		e := err.(*Error)
		e.Code = EBadRequest
		e.Message = e.Fields[0].Field + " " + e.Fields[0].Message
		return e
	}
	return nil
}

// cursor is what an opaque cursor holds: the sort it belongs to, the last
// row's sort key and ID, and a checksum so that an edited cursor is refused
// rather than silently read as another position.
type cursor struct {
	Sort string `json:"s"`
	Key  string `json:"k"`
	ID   string `json:"i"`
	Sum  string `json:"c"`
}

func cursorSum(sort, key, id string) string {
	h := sha256.Sum256([]byte(sort + "\x00" + key + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(h[:8])
}

// EncodeCursor returns the opaque cursor that continues after the row with
// the given sort key and ID.
//
// The JSON inside is written without HTML escaping: json.Marshal would
// write each & < > of a key as six bytes, and the cursor after an email of
// 254 ampersands would pass MaxCursorLen, which the lists refuse. Unescaped,
// the longest key a list sorts by (a name of MaxNameLen characters, an
// email of MaxEmailLen) makes a cursor well under it.
func EncodeCursor(sort, key, id string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(cursor{Sort: sort, Key: key, ID: id, Sum: cursorSum(sort, key, id)})
	return base64.RawURLEncoding.EncodeToString([]byte(strings.TrimSuffix(b.String(), "\n")))
}

// DecodeCursor returns the sort key and ID held by an opaque cursor made for
// sort. A cursor that is malformed, edited or made for another sort order is
// a bad_request error.
func DecodeCursor(s, sort string) (key, id string, err error) {
	bad := Errorf(EBadRequest, "cursor is not valid for this list; start again without it")
	if len(s) > MaxCursorLen {
		return "", "", bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", "", bad
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.Sort != sort || c.Sum != cursorSum(c.Sort, c.Key, c.ID) {
		return "", "", bad
	}
	return c.Key, c.ID, nil
}
