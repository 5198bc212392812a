package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/enrollkit/enrollkit/api"
)

// examples.json holds one example of each schema that is a request body or a
// 2xx JSON answer, by schema name, and the few answers of one operation that
// differ from their schema's example, by "METHOD path status media type"
// (a request body: "METHOD path"):
// one organization's manager, invitation and learner throughout, so that the
// examples read as one story.
//
//go:embed examples.json
var examplesJSON []byte

// attachExamples sets the example of every JSON request body, every 2xx JSON
// answer and every 422 problem, and fails on a body or answer without one.
// The document's validation then checks each example against its schema.
func attachExamples(doc *openapi3.T) error {
	var examples exampleSet
	if err := json.Unmarshal(examplesJSON, &examples); err != nil {
		return fmt.Errorf("examples.json: %w", err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if err := examples.attachOperation(method+" "+path, op); err != nil {
				return err
			}
		}
	}
	return nil
}

// exampleSet is examples.json: by schema name, or by the answer of one
// operation.
type exampleSet map[string]any

// attachOperation sets the examples of one operation's request body and
// answers.
func (examples exampleSet) attachOperation(where string, op *openapi3.Operation) error {
	if op.RequestBody != nil {
		for _, mt := range op.RequestBody.Value.Content {
			if err := examples.attach(where, mt); err != nil {
				return err
			}
		}
	}
	for status, ref := range op.Responses.Map() {
		if ref.Value == nil {
			continue
		}
		if !strings.HasPrefix(status, "2") {
			if mt := ref.Value.Content.Get("application/problem+json"); mt != nil && ref.Value.Description != nil {
				mt.Example = problemExample(status, *ref.Value.Description, examples["Problem"])
			}
			continue
		}
		for ct, mt := range ref.Value.Content {
			if err := examples.attach(where+" "+status+" "+ct, mt); err != nil {
				return err
			}
		}
	}
	return nil
}

// attach sets one media type's example: the operation's own if it has one,
// else its schema's (a creation's as made), else a document's.
func (examples exampleSet) attach(where string, mt *openapi3.MediaType) error {
	if mt == nil || mt.Schema == nil {
		return nil
	}
	if ex, ok := examples[where]; ok {
		mt.Example = ex
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
	if strings.Contains(where, " 201 ") {
		ex = made(ex)
	}
	mt.Example = ex
	return nil
}

// documentExamples are the examples of answers that are documents rather
// than JSON of a schema, by operation, status and media type (a request
// body: "METHOD path"): the same story as examples.json.
var documentExamples = map[string]any{
	"GET /invitations/{id}/redemptions 200 text/csv": "\"first_name\",\"last_name\",\"email\",\"redeemed_at\",\"user_groups\"\r\n" +
		"\"Priya\",\"Nair\",\"priya.nair@northwind.example\",\"2026-06-29T16:22:30Z\",\"Q3 new hires – Seattle\"\r\n" +
		"\"Jordan\",\"Ellis\",\"new.hire@northwind.example\",\"2026-07-01T08:15:02Z\",\"Q3 new hires – Seattle\"\r\n",
	"GET /audit-events 200 text/csv": "\"created_at\",\"action\",\"actor_kind\",\"actor_id\",\"target_type\",\"target_id\",\"request_id\"\r\n" +
		"\"2026-06-16T10:45:12Z\",\"invitation.send\",\"user\",\"019bb16e-ff03-7357-b94d-93356be69560\",\"invitation\",\"019ecffb-1907-7eb1-b102-897bfb3c3e29\",\"019ed009-02c8-7f3a-9b61-5e2d8c4a7f03\"\r\n" +
		"\"2026-06-16T06:00:04.512Z\",\"user_group.members.add\",\"client\",\"019cadfd-8c6e-780d-938f-200ce5ccd507\",\"user_group\",\"019ecb97-01fa-7fb7-8124-6cb223eabbd7\",\"workday-sync-2026-06-16\"\r\n",
	"POST /invitations/{id}/deliveries": "email,first_name,last_name\r\n" +
		"priya.nair@northwind.example,Priya,Nair\r\n" +
		"jordan.ellis@northwind.example,Jordan,Ellis\r\n",
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

// made is the example of an object as its creation answers it: nothing
// changed since, no seat used, no member yet.
func made(example any) any {
	obj, ok := example.(map[string]any)
	if !ok {
		return example
	}
	out := maps.Clone(obj)
	if created, ok := out["created_at"]; ok {
		if _, ok := out["updated_at"]; ok {
			out["updated_at"] = created
		}
	}
	if seats, ok := out["max_registrations"]; ok {
		out["registrations_used"], out["registrations_remaining"] = 0, seats
	}
	for _, count := range []string{"member_count", "course_count"} {
		if _, ok := out[count]; ok {
			out[count] = 0
		}
	}
	return out
}

// problemExample is the problem document an answer's description speaks
// of: its code where the description starts with one ("conflict: the
// passcode is held…"), else the status's usual code; the rest is the detail.
// A validation failure shows examples.json's, with its field errors.
func problemExample(status, description string, validation any) any {
	code, detail, named := strings.Cut(description, ": ")
	if !named || !slices.Contains(api.ProblemCodes(), code) {
		code, detail = statusCodes[status], description
	}
	if code == "validation_failed" {
		return validation
	}
	httpStatus, title := api.ProblemKind(code)
	if want, _ := strconv.Atoi(status); code == "" || httpStatus != want {
		return nil
	}
	return map[string]any{"type": "https://enrollkit.dev/problems/" + code, "title": title, "status": httpStatus,
		"code": code, "detail": detail, "instance": "urn:request:019f1d02-7a3c-7e51-a9c4-2f6b8d0e4c17"}
}

// statusCodes are each status's usual problem code.
var statusCodes = map[string]string{
	"400": "bad_request", "401": "unauthorized", "403": "insufficient_role", "404": "not_found", "405": "method_not_allowed",
	"406": "not_acceptable", "409": "conflict", "413": "payload_too_large", "415": "unsupported_media", "422": "validation_failed",
	"429": "rate_limited", "500": "internal", "503": "unavailable",
}
