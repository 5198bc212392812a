package main

import (
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// namedEnum is a set of values several schemas share, given a name so that
// generated clients have one type for it (a role read from a User is the
// role an UpdateUserRequest takes).
type namedEnum struct {
	name, description string
	values            []any
}

var namedEnums = []namedEnum{
	{"Role", "A person's role: Full Managers reach everything of their organization, invitations included; Limited Managers all but invitations and integration clients; learners their own enrollments.",
		[]any{"full_manager", "limited_manager", "learner"}},
	{"ManagerRole", "An integration client's role, one of a manager's.", []any{"full_manager", "limited_manager"}},
	{"UserStatus", "A disabled account cannot sign in; its sessions end.", []any{"active", "disabled"}},
	{"InvitationStatus", "draft, active, paused and revoked are set by managers; expired and full are derived from expires_at and the seats.",
		[]any{"draft", "active", "paused", "revoked", "expired", "full"}},
}

// nameEnums replaces each inline enum of a namedEnum's values, in schemas and
// parameters, by a reference to the named schema.
func nameEnums(doc *openapi3.T) {
	byValues := func(s *openapi3.Schema) *namedEnum {
		for i := range namedEnums {
			if s != nil && s.Type.Is("string") && slices.Equal(s.Enum, namedEnums[i].values) {
				return &namedEnums[i]
			}
		}
		return nil
	}
	for _, e := range namedEnums {
		s := openapi3.NewStringSchema().WithEnum(e.values...)
		s.Description = e.description
		doc.Components.Schemas[e.name] = openapi3.NewSchemaRef("", s)
	}
	ref := func(e *namedEnum) *openapi3.SchemaRef {
		return openapi3.NewSchemaRef("#/components/schemas/"+e.name, doc.Components.Schemas[e.name].Value)
	}
	for name, s := range doc.Components.Schemas {
		if slices.ContainsFunc(namedEnums, func(e namedEnum) bool { return e.name == name }) || s.Value == nil {
			continue
		}
		for prop, p := range s.Value.Properties {
			if e := byValues(p.Value); e != nil && p.Ref == "" {
				s.Value.Properties[prop] = ref(e)
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.Schema != nil && p.Value.Schema.Ref == "" {
					if e := byValues(p.Value.Schema.Value); e != nil {
						p.Value.Schema = ref(e)
					}
				}
			}
		}
	}
}

// nameSortOrders gives each sort parameter's values names a generated
// client can use: CreatedAtDesc for -created_at.
func nameSortOrders(doc *openapi3.T) {
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			p := op.Parameters.GetByInAndName(openapi3.ParameterInQuery, "sort")
			if p == nil || p.Schema == nil || p.Schema.Value == nil {
				continue
			}
			var names []string
			for _, v := range p.Schema.Value.Enum {
				field, desc := strings.CutPrefix(v.(string), "-")
				name := ""
				for _, word := range strings.Split(field, "_") {
					name += strings.ToUpper(word[:1]) + word[1:]
				}
				if desc {
					name += "Desc"
				} else {
					name += "Asc"
				}
				names = append(names, name)
			}
			p.Schema.Value.Extensions = map[string]any{"x-enum-varnames": names}
		}
	}
}
