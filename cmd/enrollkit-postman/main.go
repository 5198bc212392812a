// Command enrollkit-postman builds enrollkit's Postman collection (format
// v2.1) from the OpenAPI 3 document: one folder per tag holding one request
// per operation, and on top of them the end-to-end flow that docs/postman/
// flow.json describes step by step, each step naming the operation it calls.
// The output is deterministic (sorted, with ids derived from names), so that
// regenerating it from an unchanged document changes nothing.
//
//	go run ../cmd/enrollkit-postman -spec openapi.json -flow postman/flow.json -out postman/enrollkit.postman_collection.json
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

const schemaV21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

func main() {
	spec := flag.String("spec", "openapi.json", "the OpenAPI 3 document")
	flowFile := flag.String("flow", "postman/flow.json", "the end-to-end flow to put first")
	out := flag.String("out", "postman/enrollkit.postman_collection.json", "the collection to write")
	siteURL := flag.String("site-url", "http://localhost:8080", "default of the siteUrl variable; baseUrl is it followed by the document's server")
	flag.Parse()
	if err := run(*spec, *flowFile, *out, *siteURL); err != nil {
		fmt.Fprintln(os.Stderr, "enrollkit-postman:", err)
		os.Exit(1)
	}
}

func run(specFile, flowFile, out, siteURL string) error {
	doc, err := loadSpec(specFile)
	if err != nil {
		return err
	}
	f, err := loadFlow(flowFile)
	if err != nil {
		return err
	}
	b, err := generate(doc, f, siteURL)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

func loadSpec(path string) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return doc, nil
}

func loadFlow(path string) (*flow, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f flow
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &f, nil
}

// generate returns the collection's JSON, ending in a newline.
func generate(doc *openapi3.T, f *flow, siteURL string) ([]byte, error) {
	c, err := build(doc, f, siteURL)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// The collection, in the order and with the fields of Postman's v2.1 format.

type collection struct {
	Info     info       `json:"info"`
	Item     []item     `json:"item"`
	Auth     *auth      `json:"auth,omitempty"`
	Event    []event    `json:"event,omitempty"`
	Variable []variable `json:"variable"`
}

type info struct {
	PostmanID   string `json:"_postman_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Schema      string `json:"schema"`
}

// item is a folder (Item set) or a request (Request set).
type item struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Item        []item     `json:"item,omitempty"`
	Event       []event    `json:"event,omitempty"`
	Request     *request   `json:"request,omitempty"`
	Response    []response `json:"response,omitempty"`
}

type request struct {
	Auth        *auth    `json:"auth,omitempty"`
	Method      string   `json:"method"`
	Header      []header `json:"header"`
	Body        *body    `json:"body,omitempty"`
	URL         url      `json:"url"`
	Description string   `json:"description,omitempty"`
}

type url struct {
	Raw      string     `json:"raw"`
	Host     []string   `json:"host"`
	Path     []string   `json:"path,omitempty"`
	Query    []query    `json:"query,omitempty"`
	Variable []variable `json:"variable,omitempty"`
}

type query struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
}

type header struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
}

type variable struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

type body struct {
	Mode       string       `json:"mode"`
	Raw        string       `json:"raw,omitempty"`
	URLEncoded []formField  `json:"urlencoded,omitempty"`
	Options    *bodyOptions `json:"options,omitempty"`
}

type formField struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

type bodyOptions struct {
	Raw rawOptions `json:"raw"`
}

type rawOptions struct {
	Language string `json:"language"`
}

type auth struct {
	Type   string      `json:"type"`
	Bearer []attribute `json:"bearer,omitempty"`
}

type attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

type event struct {
	Listen string `json:"listen"`
	Script script `json:"script"`
}

type script struct {
	ID   string   `json:"id"`
	Type string   `json:"type"`
	Exec []string `json:"exec"`
}

type response struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	OriginalRequest *request `json:"originalRequest"`
	Status          string   `json:"status"`
	Code            int      `json:"code"`
	PreviewLanguage string   `json:"_postman_previewlanguage,omitempty"`
	Header          []header `json:"header"`
	Body            string   `json:"body"`
}

// The flow file: a folder whose steps each call one operation of the
// document, with the values, body and scripts of that step.

type flow struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Variable    []variable `json:"variable"`
	// Guard ends every step's pre-request script, after the step's own
	// lines: a folder's script would run before them, when the variables
	// they set are not set yet.
	Guard []string `json:"guard"`
	Steps []step   `json:"steps"`
}

type step struct {
	Name          string            `json:"name"`
	OperationID   string            `json:"operationId"`
	Description   string            `json:"description"`
	PathVariables map[string]string `json:"pathVariables"`
	Query         []query           `json:"query"`
	Headers       []header          `json:"headers"`
	Body          json.RawMessage   `json:"body"`
	Prerequest    []string          `json:"prerequest"`
	Test          []string          `json:"test"`
}

// operation is one operation of the document with what locates it.
type operation struct {
	method   string
	path     string
	item     *openapi3.PathItem
	op       *openapi3.Operation
	location string // "METHOD path", for messages
}

// methodOrder is the order of a path's operations in its folder.
var methodOrder = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace,
}

func operations(doc *openapi3.T) ([]operation, error) {
	var ops []operation
	seen := map[string]string{}
	paths := doc.Paths.Keys()
	slices.Sort(paths)
	for _, p := range paths {
		pi := doc.Paths.Value(p)
		byMethod := pi.Operations()
		methods := make([]string, 0, len(byMethod))
		for m := range byMethod {
			methods = append(methods, m)
		}
		slices.SortFunc(methods, func(a, b string) int {
			return rank(a) - rank(b)
		})
		for _, m := range methods {
			o := operation{method: m, path: p, item: pi, op: byMethod[m], location: m + " " + p}
			if o.op.OperationID == "" {
				return nil, fmt.Errorf("%s has no operationId", o.location)
			}
			if other, ok := seen[o.op.OperationID]; ok {
				return nil, fmt.Errorf("operationId %s is both %s and %s", o.op.OperationID, other, o.location)
			}
			seen[o.op.OperationID] = o.location
			ops = append(ops, o)
		}
	}
	return ops, nil
}

func rank(method string) int {
	if i := slices.Index(methodOrder, method); i >= 0 {
		return i
	}
	return len(methodOrder)
}

func build(doc *openapi3.T, f *flow, siteURL string) (*collection, error) {
	if len(doc.Servers) == 0 {
		return nil, errors.New("the document names no server")
	}
	apiBase := strings.TrimSuffix(doc.Servers[0].URL, "/")
	siteURL = strings.TrimSuffix(siteURL, "/")
	ops, err := operations(doc)
	if err != nil {
		return nil, err
	}
	b := &builder{doc: doc, apiBase: apiBase}

	flowFolder, err := b.flowFolder(f, ops)
	if err != nil {
		return nil, err
	}
	folders, err := b.tagFolders(ops)
	if err != nil {
		return nil, err
	}

	title := doc.Info.Title
	if title == "" {
		title = "API"
	}
	c := &collection{
		Info: info{
			PostmanID: stableID("collection", title),
			Name:      title,
			Description: strings.TrimSpace(doc.Info.Description + "\n\n" +
				"Generated from the OpenAPI document by cmd/enrollkit-postman; do not edit it by hand. " +
				"Set `baseUrl` to the API's base (" + siteURL + apiBase + " locally) and `siteUrl` to the site's root " +
				"for the enrollment page and the operations paths. The \"" + f.Name + "\" folder runs on its own: " +
				"it signs in, keeps `token` and chains the IDs it creates through collection variables."),
			Schema: schemaV21,
		},
		Item: append([]item{flowFolder}, folders...),
		Auth: &auth{Type: "bearer", Bearer: []attribute{{Key: "token", Value: "{{token}}", Type: "string"}}},
		Variable: []variable{
			{Key: "baseUrl", Value: siteURL + apiBase, Type: "string", Description: "The API's base URL: the site followed by " + apiBase + "."},
			{Key: "siteUrl", Value: siteURL, Type: "string", Description: "The site's root, for the paths outside the API (the enrollment page, health and the OpenAPI document)."},
			{Key: "token", Value: "", Type: "string", Description: "The bearer access token every secured request sends; signing in sets it."},
		},
	}
	for _, v := range f.Variable {
		if slices.ContainsFunc(c.Variable, func(have variable) bool { return have.Key == v.Key }) {
			return nil, fmt.Errorf("flow: variable %s is the collection's own", v.Key)
		}
		if v.Type == "" {
			v.Type = "string"
		}
		c.Variable = append(c.Variable, v)
	}
	return c, nil
}

type builder struct {
	doc     *openapi3.T
	apiBase string
}

// tagFolders makes one folder per tag, in the document's order of tags
// (tags used but not declared follow, sorted), each with the requests of the
// operations whose first tag it is.
func (b *builder) tagFolders(ops []operation) ([]item, error) {
	var order []string
	descriptions := map[string]string{}
	for _, t := range b.doc.Tags {
		if _, dup := descriptions[t.Name]; dup {
			continue
		}
		order = append(order, t.Name)
		descriptions[t.Name] = t.Description
	}
	var undeclared []string
	byTag := map[string][]item{}
	for _, o := range ops {
		tag := "untagged"
		if len(o.op.Tags) > 0 {
			tag = o.op.Tags[0]
		}
		if _, ok := descriptions[tag]; !ok && !slices.Contains(undeclared, tag) {
			undeclared = append(undeclared, tag)
		}
		req, err := b.request(o, nil)
		if err != nil {
			return nil, err
		}
		it := item{
			ID:      stableID("operation", o.op.OperationID),
			Name:    nameOf(o),
			Request: req,
		}
		if it.Response, err = b.responses(o, req); err != nil {
			return nil, err
		}
		byTag[tag] = append(byTag[tag], it)
	}
	slices.Sort(undeclared)
	var folders []item
	for _, tag := range append(order, undeclared...) {
		if len(byTag[tag]) == 0 {
			continue
		}
		folders = append(folders, item{
			ID:          stableID("tag", tag),
			Name:        tag,
			Description: descriptions[tag],
			Item:        byTag[tag],
		})
	}
	return folders, nil
}

func nameOf(o operation) string {
	if s := strings.TrimSpace(o.op.Summary); s != "" {
		return s
	}
	return o.op.OperationID
}

// flowFolder makes the flow's folder: each step is the request of its
// operation with the step's values in place of the document's.
func (b *builder) flowFolder(f *flow, ops []operation) (item, error) {
	if f.Name == "" || len(f.Steps) == 0 {
		return item{}, errors.New("flow: a name and at least one step are needed")
	}
	byID := map[string]operation{}
	for _, o := range ops {
		byID[o.op.OperationID] = o
	}
	folder := item{
		ID:          stableID("flow", f.Name),
		Name:        f.Name,
		Description: f.Description,
	}
	names := map[string]bool{}
	for i, s := range f.Steps {
		where := fmt.Sprintf("flow step %d (%s)", i+1, s.Name)
		if s.Name == "" || names[s.Name] {
			return item{}, fmt.Errorf("%s: every step needs a name of its own", where)
		}
		names[s.Name] = true
		o, ok := byID[s.OperationID]
		if !ok {
			return item{}, fmt.Errorf("%s: the document has no operation %q", where, s.OperationID)
		}
		req, err := b.request(o, &s)
		if err != nil {
			return item{}, fmt.Errorf("%s: %w", where, err)
		}
		if s.Description != "" {
			req.Description = s.Description
		}
		id := "flow/" + f.Name + "/" + s.Name
		folder.Item = append(folder.Item, item{
			ID:      stableID("step", id),
			Name:    s.Name,
			Event:   events(id, joinScripts(s.Prerequest, f.Guard), s.Test),
			Request: req,
		})
	}
	return folder, nil
}

// joinScripts is a script of the given parts in order, a blank line between.
func joinScripts(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, p...)
	}
	return out
}

func events(id string, prerequest, test []string) []event {
	var evs []event
	if len(prerequest) > 0 {
		evs = append(evs, event{Listen: "prerequest", Script: script{ID: stableID("prerequest", id), Type: "text/javascript", Exec: prerequest}})
	}
	if len(test) > 0 {
		evs = append(evs, event{Listen: "test", Script: script{ID: stableID("test", id), Type: "text/javascript", Exec: test}})
	}
	return evs
}

// request makes an operation's request; with a flow step, the step gives
// the path variables' values, the query parameters it sets (enabled), extra
// headers and the body.
func (b *builder) request(o operation, s *step) (*request, error) {
	host, err := b.host(o)
	if err != nil {
		return nil, err
	}
	params := parameters(o)
	req := &request{Method: o.method, Header: []header{}, Description: strings.TrimSpace(o.op.Description)}
	if public(b.doc, o.op) {
		req.Auth = &auth{Type: "noauth"}
	}
	u := url{Host: []string{host}}
	if err := pathOf(&u, o, params, s); err != nil {
		return nil, err
	}
	if err := queryAndHeaders(&u, req, o, params, s); err != nil {
		return nil, err
	}
	u.Raw = rawURL(u)
	req.URL = u
	if accept := acceptOf(o.op); accept != "" {
		req.Header = append(req.Header, header{Key: "Accept", Value: accept, Type: "text"})
	}
	if s != nil {
		for _, h := range s.Headers {
			h.Type = "text"
			if i := slices.IndexFunc(req.Header, func(have header) bool { return strings.EqualFold(have.Key, h.Key) }); i >= 0 {
				req.Header[i] = h
			} else {
				req.Header = append(req.Header, h)
			}
		}
	}
	bd, contentType, err := b.requestBody(o, s)
	if err != nil {
		return nil, err
	}
	if bd != nil {
		req.Body = bd
		req.Header = append(req.Header, header{Key: "Content-Type", Value: contentType, Type: "text"})
	}
	return req, nil
}

// pathOf writes o's path into u: {name} becomes :name, valued {{name}} or
// the step's value, and a step must value every path variable and no other.
func pathOf(u *url, o operation, params []*openapi3.Parameter, s *step) error {
	var stepVars map[string]string
	if s != nil {
		stepVars = s.PathVariables
	}
	pathParams := map[string]*openapi3.Parameter{}
	for _, p := range params {
		if p.In == openapi3.ParameterInPath {
			pathParams[p.Name] = p
		}
	}
	used := map[string]bool{}
	for seg := range strings.SplitSeq(strings.Trim(o.path, "/"), "/") {
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name := seg[1 : len(seg)-1]
			value := "{{" + name + "}}"
			if s != nil {
				v, ok := stepVars[name]
				if !ok {
					return fmt.Errorf("no value for the path variable %s", name)
				}
				value = v
			}
			used[name] = true
			v := variable{Key: name, Value: value}
			if p := pathParams[name]; p != nil {
				v.Description = p.Description
			}
			u.Variable = append(u.Variable, v)
			seg = ":" + name
		}
		u.Path = append(u.Path, seg)
	}
	for name := range stepVars {
		if !used[name] {
			return fmt.Errorf("%s has no path variable %s", o.location, name)
		}
	}
	return nil
}

// queryAndHeaders adds o's query and header parameters, disabled unless
// required or set by the step, which may set only o's own.
func queryAndHeaders(u *url, req *request, o operation, params []*openapi3.Parameter, s *step) error {
	stepSets := map[string]string{}
	if s != nil {
		for _, q := range s.Query {
			if !slices.ContainsFunc(params, func(p *openapi3.Parameter) bool {
				return p.In == openapi3.ParameterInQuery && p.Name == q.Key
			}) {
				return fmt.Errorf("%s has no query parameter %s", o.location, q.Key)
			}
			stepSets[q.Key] = q.Value
		}
	}
	for _, p := range params {
		switch p.In {
		case openapi3.ParameterInQuery:
			q := query{Key: p.Name, Value: parameterValue(p), Description: p.Description, Disabled: !p.Required}
			if v, ok := stepSets[p.Name]; ok {
				q.Value, q.Disabled = v, false
			}
			u.Query = append(u.Query, q)
		case openapi3.ParameterInHeader:
			req.Header = append(req.Header, header{Key: p.Name, Value: parameterValue(p), Type: "text", Description: p.Description, Disabled: !p.Required})
		}
	}
	return nil
}

// parameters are the path item's parameters overridden by the operation's.
func parameters(o operation) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, group := range []openapi3.Parameters{o.item.Parameters, o.op.Parameters} {
		for _, ref := range group {
			p := ref.Value
			if p == nil {
				continue
			}
			i := slices.IndexFunc(out, func(have *openapi3.Parameter) bool { return have.Name == p.Name && have.In == p.In })
			if i >= 0 {
				out[i] = p
			} else {
				out = append(out, p)
			}
		}
	}
	return out
}

// parameterValue is a parameter's example, else its schema's, else empty.
func parameterValue(p *openapi3.Parameter) string {
	candidates := []any{p.Example}
	for _, name := range sortedKeys(p.Examples) {
		if ex := p.Examples[name]; ex != nil && ex.Value != nil {
			candidates = append(candidates, ex.Value.Value)
		}
	}
	if p.Schema != nil && p.Schema.Value != nil {
		candidates = append(candidates, p.Schema.Value.Example)
	}
	for _, c := range candidates {
		if c == nil || placeholderLike(c) {
			continue
		}
		if s, ok := c.(string); ok {
			return s
		}
		if b, err := json.Marshal(c); err == nil {
			return string(b)
		}
	}
	return ""
}

func rawURL(u url) string {
	raw := strings.Join(append(slices.Clone(u.Host), u.Path...), "/")
	sep := "?"
	for _, q := range u.Query {
		if q.Disabled {
			continue
		}
		raw += sep + q.Key + "=" + q.Value
		sep = "&"
	}
	return raw
}

// host is the variable that holds the operation's server: baseUrl for the
// document's own server, siteUrl (followed by the server's path) for a path
// or operation that names another server relative to the site.
func (b *builder) host(o operation) (string, error) {
	servers := b.doc.Servers
	if len(o.item.Servers) > 0 {
		servers = o.item.Servers
	}
	if o.op.Servers != nil && len(*o.op.Servers) > 0 {
		servers = *o.op.Servers
	}
	s := strings.TrimSuffix(servers[0].URL, "/")
	switch {
	case s == b.apiBase:
		return "{{baseUrl}}", nil
	case s == "" || strings.HasPrefix(s, "/"):
		return "{{siteUrl}}" + s, nil
	case strings.Contains(s, "{"):
		return "", fmt.Errorf("%s: server %s has variables", o.location, s)
	default:
		return s, nil
	}
}

// public tells whether an operation is sent without credentials: its
// security (or the document's) is empty or allows an anonymous caller.
func public(doc *openapi3.T, op *openapi3.Operation) bool {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	if len(reqs) == 0 {
		return true
	}
	return slices.ContainsFunc(reqs, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 })
}

// acceptOf is the media type asked for: JSON when a success answers it,
// else the first of the success media types, else none.
func acceptOf(op *openapi3.Operation) string {
	var types []string
	for _, code := range successCodes(op) {
		for mt := range op.Responses.Value(code).Value.Content {
			if !slices.Contains(types, mt) {
				types = append(types, mt)
			}
		}
	}
	if len(types) == 0 {
		return ""
	}
	if slices.Contains(types, "application/json") {
		return "application/json"
	}
	slices.Sort(types)
	return types[0]
}

func successCodes(op *openapi3.Operation) []string {
	if op.Responses == nil {
		return nil
	}
	var codes []string
	for _, code := range op.Responses.Keys() {
		if r := op.Responses.Value(code); len(code) == 3 && code[0] == '2' && r != nil && r.Value != nil {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	return codes
}

// requestBody is a step's body, or for an operation's own request the
// document's example body for the JSON (else form) media type, else none.
func (b *builder) requestBody(o operation, s *step) (*body, string, error) {
	var rb *openapi3.RequestBody
	if o.op.RequestBody != nil {
		rb = o.op.RequestBody.Value
	}
	if s != nil && len(s.Body) > 0 {
		if rb == nil || rb.Content.Get("application/json") == nil {
			return nil, "", fmt.Errorf("%s takes no JSON body", o.location)
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, s.Body, "", "  "); err != nil {
			return nil, "", fmt.Errorf("body: %w", err)
		}
		return jsonBody(buf.String()), "application/json", nil
	}
	if s != nil {
		// A step sends only what it says: never the document's example values.
		if rb != nil && rb.Required {
			return nil, "", fmt.Errorf("%s needs a body", o.location)
		}
		return nil, "", nil
	}
	if rb == nil {
		return nil, "", nil
	}
	if mt := rb.Content.Get("application/json"); mt != nil {
		v, ok := mediaExample(mt, true)
		if !ok {
			return nil, "", nil
		}
		raw, err := marshalIndent(v)
		if err != nil {
			return nil, "", fmt.Errorf("%s: example body: %w", o.location, err)
		}
		return jsonBody(raw), "application/json", nil
	}
	if mt := rb.Content.Get("application/x-www-form-urlencoded"); mt != nil {
		v, ok := mediaExample(mt, true)
		fields, isObject := v.(map[string]any)
		if !ok || !isObject {
			return nil, "", nil
		}
		bd := &body{Mode: "urlencoded"}
		for _, k := range sortedKeys(fields) {
			value, ok := fields[k].(string)
			if !ok {
				j, err := json.Marshal(fields[k])
				if err != nil {
					return nil, "", err
				}
				value = string(j)
			}
			bd.URLEncoded = append(bd.URLEncoded, formField{Key: k, Value: value, Type: "text"})
		}
		return bd, "application/x-www-form-urlencoded", nil
	}
	return nil, "", nil
}

func jsonBody(raw string) *body {
	return &body{Mode: "raw", Raw: raw, Options: &bodyOptions{Raw: rawOptions{Language: "json"}}}
}

// responses are the saved examples of an operation: one per success status
// and media type whose document gives an example (never a composed one, which
// would show a partial answer as a whole).
func (b *builder) responses(o operation, req *request) ([]response, error) {
	var out []response
	for _, code := range successCodes(o.op) {
		r := o.op.Responses.Value(code).Value
		n, err := strconv.Atoi(code)
		if err != nil {
			continue
		}
		for _, mt := range sortedKeys(r.Content) {
			v, ok := mediaExample(r.Content[mt], false)
			if !ok {
				continue
			}
			text, isText := v.(string)
			lang := "text"
			if !isText || strings.Contains(mt, "json") {
				if text, err = marshalIndent(v); err != nil {
					return nil, fmt.Errorf("%s: %s example: %w", o.location, code, err)
				}
				lang = "json"
			} else if strings.Contains(mt, "html") {
				lang = "html"
			}
			name := code + " " + http.StatusText(n)
			if r.Description != nil && *r.Description != "" && *r.Description != http.StatusText(n) {
				name = code + " " + *r.Description
			}
			out = append(out, response{
				ID:              stableID("response", o.op.OperationID+"/"+code+"/"+mt),
				Name:            name,
				OriginalRequest: req,
				Status:          http.StatusText(n),
				Code:            n,
				PreviewLanguage: lang,
				Header:          []header{{Key: "Content-Type", Value: mt, Type: "text"}},
				Body:            text,
			})
		}
	}
	return out, nil
}

// mediaExample is a media type's example, else its first named example,
// else (when compose is set) a value built from its schema's examples.
// Values that look like placeholders are passed over.
func mediaExample(mt *openapi3.MediaType, compose bool) (any, bool) {
	if mt.Example != nil && !placeholderLike(mt.Example) {
		return mt.Example, true
	}
	for _, name := range sortedKeys(mt.Examples) {
		ex := mt.Examples[name]
		if ex != nil && ex.Value != nil && ex.Value.Value != nil && !placeholderLike(ex.Value.Value) {
			return ex.Value.Value, true
		}
	}
	if compose && mt.Schema != nil {
		return composeExample(mt.Schema, map[*openapi3.Schema]bool{})
	}
	return nil, false
}

// composeExample builds a value from a schema's example or, for an object,
// from its properties' examples (through allOf, and the first of oneOf or
// anyOf that gives one), leaving out what has none and what is read-only.
// composeObject is an object schema's example from its parts' (allOf) and
// its properties' examples; read-only properties are left out.
func composeObject(s *openapi3.Schema, visiting map[*openapi3.Schema]bool) map[string]any {
	obj := map[string]any{}
	for _, part := range s.AllOf {
		if v, ok := composeExample(part, visiting); ok {
			if m, isObject := v.(map[string]any); isObject {
				maps.Copy(obj, m)
			}
		}
	}
	for _, name := range sortedKeys(s.Properties) {
		prop := s.Properties[name]
		if prop == nil || prop.Value == nil || prop.Value.ReadOnly {
			continue
		}
		if v, ok := composeExample(prop, visiting); ok {
			obj[name] = v
		}
	}
	return obj
}

func composeExample(ref *openapi3.SchemaRef, visiting map[*openapi3.Schema]bool) (any, bool) {
	if ref == nil || ref.Value == nil {
		return nil, false
	}
	s := ref.Value
	if s.Example != nil && !placeholderLike(s.Example) {
		return s.Example, true
	}
	for _, ex := range s.Examples {
		if ex != nil && !placeholderLike(ex) {
			return ex, true
		}
	}
	if visiting[s] {
		return nil, false
	}
	visiting[s] = true
	defer delete(visiting, s)

	if obj := composeObject(s, visiting); len(obj) > 0 {
		return obj, true
	}
	for _, alt := range append(slices.Clone(s.OneOf), s.AnyOf...) {
		if v, ok := composeExample(alt, visiting); ok {
			return v, true
		}
	}
	if s.Type != nil && s.Type.Is(openapi3.TypeArray) {
		if v, ok := composeExample(s.Items, visiting); ok {
			return []any{v}, true
		}
	}
	return nil, false
}

// placeholderPattern matches what reads as a stand-in for a value rather
// than a value: <string>, <uuid>, {{name}}.
var placeholderPattern = regexp.MustCompile(`<[A-Za-z_][A-Za-z0-9_ .:/-]*>|\{\{[^{}]*\}\}`)

func placeholderLike(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return true
	}
	var s string
	// Decode escapes such as \u003c back before matching.
	if err := json.Unmarshal(b, &s); err == nil {
		return placeholderPattern.MatchString(s)
	}
	return placeholderPattern.MatchString(unescapeJSON(b))
}

func unescapeJSON(b []byte) string {
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	return r.Replace(string(b))
}

func marshalIndent(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stableID is a name-based UUID (version 5 layout over SHA-1) of a kind and
// a name, so that an item keeps its id as long as its operationId or name.
func stableID(kind, name string) string {
	sum := sha1.Sum([]byte("enrollkit-postman\x00" + kind + "\x00" + name))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
