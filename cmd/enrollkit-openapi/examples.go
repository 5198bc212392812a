package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// examples.json holds one example of each schema that is a request body or a
// 2xx JSON answer, by schema name: one organization's manager, invitation
// and learner throughout, so that the examples read as one story.
//
//go:embed examples.json
var examplesJSON []byte

// attachExamples sets the example of every JSON request body, every 2xx JSON
// answer and every 422 problem, and fails on a body or answer without one.
// The document's validation then checks each example against its schema.
func attachExamples(doc *openapi3.T) error {
	var examples map[string]any
	if err := json.Unmarshal(examplesJSON, &examples); err != nil {
		return fmt.Errorf("examples.json: %w", err)
	}
	attach := func(where string, mt *openapi3.MediaType) error {
		if mt == nil || mt.Schema == nil || mt.Schema.Ref == "" {
			return nil
		}
		name := strings.TrimPrefix(mt.Schema.Ref, "#/components/schemas/")
		ex, ok := examples[name]
		if !ok {
			return fmt.Errorf("examples.json has no %s, for %s", name, where)
		}
		mt.Example = ex
		return nil
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.RequestBody != nil {
				if err := attach(where, op.RequestBody.Value.Content.Get("application/json")); err != nil {
					return err
				}
			}
			for status, ref := range op.Responses.Map() {
				if ref.Value == nil {
					continue
				}
				switch {
				case strings.HasPrefix(status, "2"):
					if err := attach(where+" "+status, ref.Value.Content.Get("application/json")); err != nil {
						return err
					}
				case status == "422":
					if err := attach(where+" 422", ref.Value.Content.Get("application/problem+json")); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
