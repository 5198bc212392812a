package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
)

// TestEncodingMatchesEncodingJSON: the response encoder writes what
// encoding/json would for the awkward cases: HTML characters, line
// separators, invalid UTF-8, control characters, timestamps with and
// without fractions and zones, nil and empty slices and pointers.
func TestEncodingMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("", -7*3600)
	code := "<b>&amp;</b>"
	sep := "A\u2028B\u2029C"
	values := []any{
		CourseResponse{ID: "019b76da-a800-72a5-8b92-1956fbcbb853", Name: "Safety <script>alert(1)</script> & more",
			Code: &sep, Description: "bad \xff utf-8, tab\t, nul\x00, emoji 🎓",
			CreatedAt: stamp(time.Date(2026, 11, 25, 20, 32, 1, 123456789, time.UTC)), UpdatedAt: stamp(time.Date(2026, 1, 2, 3, 4, 5, 0, zone))},
		listResponse[CourseResponse]{Data: []CourseResponse{}},
		listResponse[CourseResponse]{},
		listResponse[GroupRefResponse]{Data: []GroupRefResponse{{ID: "x", Name: code}}, NextCursor: &code},
		map[string]any{"b": 1.5, "a": []int(nil), "c": 1e21, "d": 0.000001},
	}
	// stamp writes what time.Time's own JSON encoding does.
	for _, tm := range []time.Time{time.Date(2026, 11, 25, 20, 32, 1, 123456789, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, zone),
		time.Date(2026, 6, 1, 0, 0, 0, 120000000, time.UTC), {}} {
		want, _ := json.Marshal(tm)
		if got, _ := json.Marshal(stamp(tm)); !bytes.Equal(got, want) {
			t.Errorf("stamp(%v) encodes as %s, time.Time as %s", tm, got, want)
		}
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := gojson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%T:\n got %s\nwant %s", v, got, want)
		}
	}
}
