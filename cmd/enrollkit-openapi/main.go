// Command enrollkit-openapi converts the Swagger 2.0 document that swag
// generates into the OpenAPI 3 document enrollkit serves, fixes what Swagger
// 2.0 cannot say (problem documents have their own media type), and refuses
// to write a document that does not validate.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/enrollkit/enrollkit/api"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

func main() {
	in := flag.String("in", "swagger.json", "Swagger 2.0 input")
	out := flag.String("out", "openapi.json", "OpenAPI 3 output")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "enrollkit-openapi:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var v2 openapi2.T
	if err := json.Unmarshal(raw, &v2); err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	fix(doc)
	if err := attachExamples(doc); err != nil {
		return err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return fmt.Errorf("the converted document is invalid: %w", err)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// jwtPractice is how the access tokens follow RFC8725 (JSON Web Token Best
// Current Practices).
const jwtPractice = "The tokens follow RFC8725: the server accepts only the one algorithm it signs with (HS256, never none), " +
	"checks the explicit type at+jwt, the issuer, the audience and the expiry, and keeps them short-lived (ENROLLKIT_ACCESS_TTL, 15 minutes by default)."

// apiBase is where the JSON API is served; the document's paths are relative
// to it, so that a client's base URL ends in it and no path repeats it.
const apiBase = "/api/v1"

// fix adjusts what the conversion cannot know: error bodies are RFC 9457
// application/problem+json, any operation may fail with a bare 500, and the
// API is served under apiBase on the document's own origin.
func fix(doc *openapi3.T) {
	relativePaths(doc)
	discriminateMe(doc)
	applyLimits(doc)
	closeEnums(doc)
	closeRequests(doc)
	nameEnums(doc)
	nameSortOrders(doc)
	documentIdempotency(doc)
	documentProblems(doc)
	sharePageParameters(doc)
	// OpenAPI 3's own schemes instead of Swagger 2.0's apiKey: a bearer JWT
	// for people and integration clients alike, and the client credentials
	// grant that gives integration clients theirs.
	doc.Components.SecuritySchemes = openapi3.SecuritySchemes{
		"BearerAuth": {Value: openapi3.NewJWTSecurityScheme().WithDescription(
			"An access token from POST /api/v1/auth/login (a person) or POST /api/v1/oauth/token (an integration client). " + jwtPractice)},
		"ClientCredentials": {Value: &openapi3.SecurityScheme{Type: "oauth2",
			Description: "An integration client's OAuth 2.0 client credentials grant; the token it gives is a bearer JWT. " + jwtPractice,
			Flows: &openapi3.OAuthFlows{ClientCredentials: &openapi3.OAuthFlow{TokenURL: "/api/v1/oauth/token",
				Scopes: map[string]string{}}}}},
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Security == nil || len(*op.Security) == 0 {
				op.Security = &openapi3.SecurityRequirements{} // public: no credentials
				continue
			}
			op.Security = &openapi3.SecurityRequirements{{"BearerAuth": []string{}}, {"ClientCredentials": []string{}}}
		}
	}
	problem := openapi3.NewSchemaRef("#/components/schemas/Problem", doc.Components.Schemas["Problem"].Value)
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Responses.Value("500") == nil {
				op.Responses.Set("500", &openapi3.ResponseRef{Value: openapi3.NewResponse().
					WithDescription("Internal Server Error: details are logged under the request ID, never sent").
					WithContent(openapi3.NewContentWithJSONSchemaRef(problem))})
			}
			csvAsText(op)
			for status, ref := range op.Responses.Map() {
				code, err := strconv.Atoi(status)
				if err != nil || code < 400 || ref.Value == nil {
					continue
				}
				if mt := ref.Value.Content.Get("application/json"); mt != nil {
					if mt.Schema != nil && mt.Schema.Ref == "#/components/schemas/Problem" {
						ref.Value.Content = openapi3.Content{"application/problem+json": mt}
					}
				}
			}
		}
	}
}

// csvAsText makes an operation's CSV bodies, its answers' and its
// request's, text, whatever JSON schema swag gave them (swag gives every
// media type of @Accept and @Produce the one schema).
func csvAsText(op *openapi3.Operation) {
	for _, ref := range op.Responses.Map() {
		if ref.Value != nil && ref.Value.Content["text/csv"] != nil {
			ref.Value.Content["text/csv"] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
		}
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil && rb.Value.Content["text/csv"] != nil {
		rb.Value.Content["text/csv"] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
	}
}

// relativePaths makes the API's paths relative to a server at apiBase. The
// few paths outside it (the enrollment page, health, this document) keep their
// place through a server of their own at the site's root.
func relativePaths(doc *openapi3.T) {
	public := map[string]any{"x-internal": false}
	doc.Servers = openapi3.Servers{{URL: apiBase, Extensions: public,
		Description: "The API on the origin that serves this document (production, staging or a local development server alike)."}}
	paths := openapi3.NewPaths()
	for path, item := range doc.Paths.Map() {
		if rest, ok := strings.CutPrefix(path, apiBase); ok && strings.HasPrefix(rest, "/") {
			paths.Set(rest, item)
			continue
		}
		item.Servers = openapi3.Servers{{URL: "/", Extensions: public, Description: "The site's root, outside the API: pages, health and this document."}}
		paths.Set(path, item)
	}
	doc.Paths = paths
}

// discriminateMe states what MeResponse's comment says: the caller is a person
// or an integration client, told apart by kind, and a client has no email or
// names. Generated clients then offer one type for each.
func discriminateMe(doc *openapi3.T) {
	me := doc.Components.Schemas["Me"].Value
	variant := func(kind string, props ...string) *openapi3.Schema {
		s := openapi3.NewObjectSchema()
		for _, name := range props {
			s.Properties[name] = me.Properties[name]
		}
		s.Properties["kind"] = openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithEnum(kind))
		for _, name := range me.Required {
			if s.Properties[name] != nil {
				s.Required = append(s.Required, name)
			}
		}
		return s
	}
	user := variant("user", "id", "email", "first_name", "last_name", "role", "organization_id", "organization_group_id")
	user.Required = append(user.Required, "email", "first_name", "last_name", "organization_group_id")
	user.Description = "A person signed in with a password."
	client := variant("client", "id", "role", "organization_id")
	client.Properties["role"] = openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithEnum("full_manager", "limited_manager"))
	client.Description = "An integration client signed in with its client credentials."
	doc.Components.Schemas["MeUser"] = openapi3.NewSchemaRef("", user)
	doc.Components.Schemas["MeClient"] = openapi3.NewSchemaRef("", client)
	doc.Components.Schemas["Me"] = openapi3.NewSchemaRef("", &openapi3.Schema{
		Description: "The caller: a person (kind user) or an integration client (kind client).",
		OneOf: openapi3.SchemaRefs{
			openapi3.NewSchemaRef("#/components/schemas/MeUser", user),
			openapi3.NewSchemaRef("#/components/schemas/MeClient", client),
		},
		Discriminator: &openapi3.Discriminator{PropertyName: "kind", Mapping: map[string]openapi3.MappingRef{
			"user": {Ref: "#/components/schemas/MeUser"}, "client": {Ref: "#/components/schemas/MeClient"}}},
	})
}

// closeEnums states the values some strings can take, which swag has no tag
// for on these fields: the problem codes and OAuth errors from the API's own
// table, and fields of one or two values.
func closeEnums(doc *openapi3.T) {
	problem := doc.Components.Schemas["Problem"].Value
	for prop, values := range map[string][]string{"code": api.ProblemCodes(), "error": api.OAuthErrors()} {
		problem.Properties[prop].Value.Enum = nil
		for _, v := range values {
			problem.Properties[prop].Value.Enum = append(problem.Properties[prop].Value.Enum, v)
		}
	}
	doc.Components.Schemas["Invitation"].Value.Properties["enroll_url"].Value.Format = "uri"
	for schema, props := range map[string]map[string][]any{
		"Health":                   {"status": {"ok", "unavailable"}},
		"ClientCredentialsRequest": {"grant_type": {"client_credentials"}},
		"TokenResponse":            {"token_type": {"Bearer"}},
	} {
		for prop, values := range props {
			doc.Components.Schemas[schema].Value.Properties[prop].Value.Enum = values
		}
	}
}

// closeRequests states what the server holds request bodies and problems
// to: a JSON body with a field it does not know is refused (400), every
// problem names its request, and a passcode's length is counted without its
// spaces and dashes.
func closeRequests(doc *openapi3.T) {
	for name, ref := range doc.Components.Schemas {
		if strings.HasSuffix(name, "Request") && ref.Value != nil {
			ref.Value.AdditionalProperties = openapi3.AdditionalProperties{Has: openapi3.Ptr(false)}
		}
	}
	problem := doc.Components.Schemas["Problem"].Value
	problem.Required = append(problem.Required, "instance")
	problem.Properties["type"].Value.Format = "uri"
	problem.Properties["instance"].Value.Format = "uri"
	for _, name := range []string{"CreateInvitationRequest", "UpdateInvitationRequest", "RedeemRequest", "PasscodeRequest", "Invitation"} {
		p := doc.Components.Schemas[name].Value.Properties["passcode"].Value
		rule := fmt.Sprintf("%d to %d characters, not counting spaces and dashes (at most %d with them), matched ignoring case, spaces and dashes.",
			lms.MinPasscodeLen, lms.MaxPasscodeLen, lms.MaxPasscodeInputLen)
		p.Description = strings.TrimSpace(p.Description + " " + rule)
	}
	if c := doc.Info.Contact; c != nil && c.Name == "" && c.URL == "" && c.Email == "" {
		doc.Info.Contact = nil
	}
}
