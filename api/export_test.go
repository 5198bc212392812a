package api

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Every JSON body the tests receive is also encoded with encoding/json,
// and must be byte for byte the same.
func init() {
	checkEncoding = func(v any, got []byte) {
		want, err := json.Marshal(v)
		if err != nil || !bytes.Equal(want, got) {
			panic(fmt.Sprintf("goccy/go-json and encoding/json differ for %T:\n%s\n%s (%v)", v, got, want, err))
		}
	}
}
