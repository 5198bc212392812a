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
		if mt == nil || mt.Schema == nil {
			return nil
		}
		if mt.Schema.Ref == "" {
			if ex, ok := documentExamples[where]; ok {
				mt.Example = ex
			}
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
				for _, mt := range op.RequestBody.Value.Content {
					if err := attach(where, mt); err != nil {
						return err
					}
				}
			}
			for status, ref := range op.Responses.Map() {
				if ref.Value == nil {
					continue
				}
				switch {
				case strings.HasPrefix(status, "2"):
					for ct, mt := range ref.Value.Content {
						if err := attach(where+" "+status+" "+ct, mt); err != nil {
							return err
						}
					}
				case status == "422":
					if err := attach(where+" 422 application/problem+json", ref.Value.Content.Get("application/problem+json")); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// documentExamples are the examples of answers that are documents rather
// than JSON of a schema, by operation, status and media type: the same story
// as examples.json.
var documentExamples = map[string]any{
	"GET /invitations/{id}/redemptions 200 text/csv": "\"first_name\",\"last_name\",\"email\",\"redeemed_at\",\"user_groups\"\r\n" +
		"\"Priya\",\"Nair\",\"priya.nair@northwind.example\",\"2026-06-29T16:22:30Z\",\"Q3 new hires – Seattle\"\r\n" +
		"\"Jordan\",\"Ellis\",\"new.hire@northwind.example\",\"2026-07-01T08:15:02Z\",\"Q3 new hires – Seattle\"\r\n",
	"GET /enroll 200 text/html":         enrollPageExample("Join Northwind Traders", "Q3 onboarding – Seattle: Workplace Safety Essentials, Data Protection 101. 18 places left."),
	"POST /enroll 200 text/html":        enrollPageExample("You are enrolled", "Your courses: Workplace Safety Essentials, Data Protection 101."),
	"GET /enroll/verify 200 text/html":  enrollPageExample("Finish your registration", "Give your password again to make your account."),
	"POST /enroll/verify 200 text/html": enrollPageExample("You are enrolled", "Your courses: Workplace Safety Essentials, Data Protection 101."),
	"GET /enroll/enroll.css 200 text/css": "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b}\n" +
		"main{max-width:36rem;margin:0 auto;padding:1.5rem}\n",
	"GET /openapi.json 200 application/json": map[string]any{"openapi": "3.0.3",
		"info": map[string]any{"title": "enrollkit API", "version": "1.0"}, "paths": map[string]any{}},
}

// enrollPageExample is the outline of an enrollment page: its heading and
// what it says.
func enrollPageExample(heading, says string) string {
	return "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Enroll</title>" +
		"<link rel=\"stylesheet\" href=\"/enroll/enroll.css\"></head>\n<body><main><h1>" + heading + "</h1><p>" + says + "</p></main></body>\n</html>\n"
}
