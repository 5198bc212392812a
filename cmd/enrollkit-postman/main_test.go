package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// generated builds the collection from the repository's document and flow.
func generated(t *testing.T) (*openapi3.T, *flow, []byte) {
	t.Helper()
	doc, err := loadSpec("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := loadFlow("../../docs/postman/flow.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := generate(doc, f, "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	return doc, f, out
}

func TestCollectionFromTheDocument(t *testing.T) {
	doc, f, out := generated(t)
	var c collection
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}

	if len(c.Item) == 0 || c.Item[0].Name != f.Name || c.Item[0].Name != "Manager to learner" || len(c.Item[0].Item) != len(f.Steps) {
		t.Fatalf("the first folder is not the flow %q with its %d steps", f.Name, len(f.Steps))
	}

	ops, err := operations(doc)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	total := 0
	for _, folder := range c.Item[1:] {
		for _, it := range folder.Item {
			count[it.ID]++
			total++
		}
	}
	for _, o := range ops {
		if n := count[stableID("operation", o.op.OperationID)]; n != 1 {
			t.Errorf("%s (%s) appears %d times in the tag folders, want once", o.op.OperationID, o.location, n)
		}
	}
	if total != len(ops) {
		t.Errorf("the tag folders hold %d requests, the document has %d operations", total, len(ops))
	}

	for _, key := range []string{"baseUrl", "siteUrl", "token"} {
		found := false
		for _, v := range c.Variable {
			found = found || v.Key == key
		}
		if !found {
			t.Errorf("no collection variable %s", key)
		}
	}
	if c.Auth == nil || c.Auth.Type != "bearer" || len(c.Auth.Bearer) != 1 || c.Auth.Bearer[0].Value != "{{token}}" {
		t.Errorf("collection auth = %+v, want bearer {{token}}", c.Auth)
	}

	text := string(out)
	if strings.Contains(text, `\u003c`) {
		t.Error("the output hides a < behind an escape")
	}
	if m := regexp.MustCompile(`<[A-Za-z_][A-Za-z0-9_ .:/-]*>`).FindAllString(text, 5); len(m) > 0 {
		t.Errorf("placeholder-like text in the output: %q", m)
	}

	again, err := generate(doc, f, "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Error("two generations differ")
	}
}

const smallSpec = `{
  "openapi": "3.0.3",
  "info": {"title": "small", "version": "1"},
  "servers": [{"url": "/api/v1"}],
  "tags": [{"name": "things", "description": "Things."}],
  "paths": {
    "/things": {
      "post": {
        "operationId": "createThing", "tags": ["things"], "summary": "Make a thing",
        "security": [{"BearerAuth": []}],
        "requestBody": {"required": true, "content": {"application/json": {
          "schema": {"$ref": "#/components/schemas/Thing"},
          "example": {"name": "From the media type"}}}},
        "responses": {"201": {"description": "Created"}}
      },
      "patch": {
        "operationId": "patchThings", "tags": ["things"], "summary": "Change things",
        "security": [],
        "parameters": [
          {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
          {"name": "scope", "in": "query", "required": true, "schema": {"type": "string", "example": "all"}}
        ],
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
        "responses": {"200": {"description": "OK"}}
      }
    },
    "/things/{id}": {
      "put": {
        "operationId": "replaceThing", "tags": ["things"], "summary": "Replace a thing",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object",
          "properties": {"note": {"type": "string"}}}}}},
        "responses": {"204": {"description": "No Content"}}
      }
    },
    "/healthz": {
      "servers": [{"url": "/"}],
      "get": {"operationId": "health", "tags": ["operations"], "summary": "Health", "security": [],
        "responses": {"200": {"description": "OK"}}}
    }
  },
  "components": {"schemas": {"Thing": {"type": "object", "required": ["name", "owner_id"], "properties": {
    "name": {"type": "string", "example": "Lamp"},
    "owner_id": {"type": "string", "format": "uuid", "example": "<uuid>"},
    "id": {"type": "string", "readOnly": true, "example": "x1"},
    "size": {"type": "integer", "example": 3}
  }}}}
}`

func TestRequestsOfASmallDocument(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(smallSpec))
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{Name: "Flow", Steps: []step{{
		Name: "Replace", OperationID: "replaceThing",
		PathVariables: map[string]string{"id": "{{thingId}}"},
		Body:          json.RawMessage(`{"note":"{{note}}"}`),
	}}}
	c, err := build(doc, f, "http://localhost:8080/")
	if err != nil {
		t.Fatal(err)
	}
	requests := map[string]*request{}
	for _, folder := range c.Item[1:] {
		for _, it := range folder.Item {
			requests[it.Name] = it.Request
		}
	}

	if b := requests["Make a thing"].Body; b == nil || b.Raw != "{\n  \"name\": \"From the media type\"\n}" {
		t.Errorf("the media type's example is not the body: %+v", b)
	}
	if requests["Make a thing"].Auth != nil {
		t.Error("a secured operation does not inherit the collection's bearer auth")
	}

	patch := requests["Change things"]
	if patch.Body == nil || patch.Body.Raw != "{\n  \"name\": \"Lamp\",\n  \"size\": 3\n}" {
		t.Errorf("the body is not composed from the properties' examples without the placeholder and the read-only one: %+v", patch.Body)
	}
	if patch.Auth == nil || patch.Auth.Type != "noauth" {
		t.Errorf("a public operation's auth = %+v, want noauth", patch.Auth)
	}
	want := []query{{Key: "dry_run", Value: "", Disabled: true}, {Key: "scope", Value: "all"}}
	if len(patch.URL.Query) != 2 || patch.URL.Query[0] != want[0] || patch.URL.Query[1] != want[1] {
		t.Errorf("query = %+v, want %+v", patch.URL.Query, want)
	}
	if patch.URL.Raw != "{{baseUrl}}/things?scope=all" {
		t.Errorf("raw URL = %q", patch.URL.Raw)
	}

	put := requests["Replace a thing"]
	if put.Body != nil {
		t.Errorf("a body without examples is not left out: %+v", put.Body)
	}
	if put.URL.Raw != "{{baseUrl}}/things/:id" || len(put.URL.Variable) != 1 || put.URL.Variable[0].Value != "{{id}}" {
		t.Errorf("path variable: %+v", put.URL)
	}

	if got := requests["Health"].URL.Raw; got != "{{siteUrl}}/healthz" {
		t.Errorf("a path outside the API is at %q, want {{siteUrl}}/healthz", got)
	}

	replace := c.Item[0].Item[0].Request
	if replace.URL.Variable[0].Value != "{{thingId}}" || replace.Body == nil || !strings.Contains(replace.Body.Raw, "{{note}}") {
		t.Errorf("the flow step's values are not used: %+v", replace)
	}

	bad := &flow{Name: "Flow", Steps: []step{{Name: "Replace", OperationID: "replaceThing"}}}
	if _, err := build(doc, bad, "http://localhost:8080"); err == nil {
		t.Error("a step without its path variable is accepted")
	}
	bad = &flow{Name: "Flow", Steps: []step{{Name: "Nothing", OperationID: "noSuchOperation"}}}
	if _, err := build(doc, bad, "http://localhost:8080"); err == nil {
		t.Error("a step naming no operation is accepted")
	}
}
