package deployments_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Paths relative to this package's directory, where go test runs.
const (
	composeFile    = "docker-compose.yml"
	exampleEnvFile = "example.env"
	kubernetesDir  = "kubernetes"
	dockerfile     = "../Dockerfile"
	configSource   = "../pkg/config/config.go"
	serverPort     = 8080
)

// envVarRE matches the name of an enrollkit setting.
var envVarRE = regexp.MustCompile(`ENROLLKIT_[A-Z0-9_]*[A-Z0-9]`)

func TestComposeFile(t *testing.T) {
	t.Parallel()
	doc := parseYAMLFile(t, composeFile)
	services, ok := doc["services"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no services mapping", composeFile)
	}
	for _, name := range []string{"enrollkit", "migrate", "postgres", "redis"} {
		if _, ok := services[name].(map[string]any); !ok {
			t.Errorf("%s: service %q missing", composeFile, name)
		}
	}
	mailCatcher := ""
	for name, s := range services {
		image := str(dig(s, "image"))
		if strings.Contains(image, "mailpit") || strings.Contains(image, "mailhog") {
			mailCatcher = name
		}
	}
	if mailCatcher == "" {
		t.Errorf("%s: no mail catcher service (mailpit or mailhog image)", composeFile)
	}
	if t.Failed() {
		return
	}

	app := services["enrollkit"].(map[string]any)
	if app["healthcheck"] == nil && app["depends_on"] == nil {
		t.Errorf("enrollkit: needs a healthcheck or depends_on")
	}
	if got := str(dig(app, "depends_on", "migrate", "condition")); got != "service_completed_successfully" {
		t.Errorf("enrollkit: depends_on.migrate.condition = %q, want service_completed_successfully", got)
	}
	if got := str(dig(app, "depends_on", "postgres", "condition")); got != "service_healthy" {
		t.Errorf("enrollkit: depends_on.postgres.condition = %q, want service_healthy", got)
	}
	// Every service_healthy dependency must define a healthcheck, or
	// `docker compose up` fails.
	for svcName, svc := range services {
		deps, _ := dig(svc, "depends_on").(map[string]any)
		for dep, spec := range deps {
			target, ok := services[dep]
			if !ok {
				t.Errorf("%s: depends on unknown service %q", svcName, dep)
				continue
			}
			if str(dig(spec, "condition")) == "service_healthy" && dig(target, "healthcheck") == nil {
				t.Errorf("%s: waits for %s to be healthy, but %s has no healthcheck", svcName, dep, dep)
			}
		}
	}
	for _, name := range []string{"postgres", "redis"} {
		if dig(services[name], "healthcheck", "test") == nil {
			t.Errorf("%s: no healthcheck", name)
		}
	}
	if test := fmt.Sprint(dig(services["postgres"], "healthcheck", "test")); !strings.Contains(test, "pg_isready") {
		t.Errorf("postgres: healthcheck %s does not use pg_isready", test)
	}

	for _, name := range []string{"enrollkit", "migrate"} {
		svc := services[name]
		if ctx := buildContext(dig(svc, "build")); ctx != ".." {
			t.Errorf("%s: build context = %q, want \"..\" (the repository root)", name, ctx)
		}
		env := environment(t, name, dig(svc, "environment"))
		if env["ENROLLKIT_ENV"] != "production" {
			t.Errorf("%s: ENROLLKIT_ENV = %q, want production", name, env["ENROLLKIT_ENV"])
		}
		if !strings.HasPrefix(env["ENROLLKIT_DATABASE_URL"], "postgres://") || !strings.Contains(env["ENROLLKIT_DATABASE_URL"], "@postgres:") {
			t.Errorf("%s: ENROLLKIT_DATABASE_URL = %q, want a postgres:// URL for the postgres service", name, env["ENROLLKIT_DATABASE_URL"])
		}
		if s := env["ENROLLKIT_SECRET"]; !strings.HasPrefix(s, "${ENROLLKIT_SECRET:?") {
			t.Errorf("%s: ENROLLKIT_SECRET = %q, want it taken from the environment with a ${ENROLLKIT_SECRET:?...} guard", name, s)
		}
		if !strings.HasPrefix(env["ENROLLKIT_REDIS_URL"], "redis://redis:") {
			t.Errorf("%s: ENROLLKIT_REDIS_URL = %q, want the redis service", name, env["ENROLLKIT_REDIS_URL"])
		}
		if want := "smtp://" + mailCatcher + ":1025"; env["ENROLLKIT_SMTP_URL"] != want {
			t.Errorf("%s: ENROLLKIT_SMTP_URL = %q, want %q", name, env["ENROLLKIT_SMTP_URL"], want)
		}
	}
	if cmd := words(dig(services["migrate"], "command")); !slices.Contains(cmd, "migrate") {
		t.Errorf("migrate: command %q does not run migrate", cmd)
	}
	if got := str(dig(services["migrate"], "depends_on", "postgres", "condition")); got != "service_healthy" {
		t.Errorf("migrate: depends_on.postgres.condition = %q, want service_healthy", got)
	}
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	docs := kubernetesDocs(t)
	kinds := map[string]int{}
	for path, doc := range docs {
		for _, field := range []string{"apiVersion", "kind"} {
			if str(doc[field]) == "" {
				t.Errorf("%s: %s missing", path, field)
			}
		}
		if str(dig(doc, "metadata", "name")) == "" {
			t.Errorf("%s: metadata.name missing", path)
		}
		kinds[str(doc["kind"])]++
	}
	for _, kind := range []string{"Deployment", "Service", "Job", "ConfigMap", "Secret"} {
		if kinds[kind] == 0 {
			t.Errorf("no %s among %s/*.yaml", kind, kubernetesDir)
		}
	}
}

func TestKubernetesDeployment(t *testing.T) {
	t.Parallel()
	docs := kubernetesDocs(t)
	deployments := ofKind(docs, "Deployment")
	if len(deployments) == 0 {
		t.Fatal("no Deployment")
	}
	for path, d := range deployments {
		selector, _ := dig(d, "spec", "selector", "matchLabels").(map[string]any)
		labels, _ := dig(d, "spec", "template", "metadata", "labels").(map[string]any)
		if len(selector) == 0 || !subset(selector, labels) {
			t.Errorf("%s: spec.selector.matchLabels %v must be non-empty and match the pod labels %v", path, selector, labels)
		}
		podSpec := dig(d, "spec", "template", "spec")
		checkPodSecurity(t, path, podSpec)
		containers := list(dig(podSpec, "containers"))
		if len(containers) == 0 {
			t.Errorf("%s: no containers", path)
		}
		for _, c := range containers {
			name := str(dig(c, "name"))
			where := path + ": container " + name
			checkProbe(t, where, c, "readinessProbe", "/readyz")
			checkProbe(t, where, c, "livenessProbe", "/healthz")
			if dig(c, "startupProbe") == nil {
				t.Errorf("%s: no startupProbe", where)
			}
			if str(dig(c, "resources", "limits", "memory")) == "" || dig(c, "resources", "requests") == nil {
				t.Errorf("%s: needs resources.requests and a memory limit", where)
			}
			checkEnvFrom(t, where, c, docs)
		}
	}
	// The configured listen address must match the container port.
	for path, cm := range ofKind(docs, "ConfigMap") {
		if addr := str(dig(cm, "data", "ENROLLKIT_ADDR")); addr != "" {
			_, port, err := net.SplitHostPort(addr)
			if err != nil || port != strconv.Itoa(serverPort) {
				t.Errorf("%s: ENROLLKIT_ADDR = %q, want port %d", path, addr, serverPort)
			}
		}
		// Only the ingress is trusted to name the client: a range as wide
		// as a whole private network lets any pod forge its address.
		for _, cidr := range strings.Split(str(dig(cm, "data", "ENROLLKIT_TRUSTED_PROXIES")), ",") {
			if cidr = strings.TrimSpace(cidr); cidr == "" {
				continue
			}
			p, err := netip.ParsePrefix(cidr)
			if err != nil || (p.Addr().Is4() && p.Bits() < 20) || (p.Addr().Is6() && p.Bits() < 64) {
				t.Errorf("%s: ENROLLKIT_TRUSTED_PROXIES has %q; want the ingress's own narrow ranges (IPv4 /20 or narrower)", path, cidr)
			}
		}
	}
}

func TestKubernetesService(t *testing.T) {
	t.Parallel()
	docs := kubernetesDocs(t)
	services := ofKind(docs, "Service")
	if len(services) == 0 {
		t.Fatal("no Service")
	}
	for path, svc := range services {
		selector, _ := dig(svc, "spec", "selector").(map[string]any)
		var podSpec any
		for _, d := range ofKind(docs, "Deployment") {
			if labels, _ := dig(d, "spec", "template", "metadata", "labels").(map[string]any); len(selector) > 0 && subset(selector, labels) {
				podSpec = dig(d, "spec", "template", "spec")
			}
		}
		if podSpec == nil {
			t.Errorf("%s: selector %v matches no Deployment's pods", path, selector)
			continue
		}
		if typ := str(dig(svc, "spec", "type")); typ != "" && typ != "ClusterIP" {
			t.Errorf("%s: type = %s, want ClusterIP", path, typ)
		}
		ports := list(dig(svc, "spec", "ports"))
		if len(ports) == 0 {
			t.Errorf("%s: no ports", path)
		}
		for _, p := range ports {
			target := dig(p, "targetPort")
			if target == nil {
				target = dig(p, "port")
			}
			found := false
			for _, c := range list(dig(podSpec, "containers")) {
				if n, ok := declaredPort(c, target); ok && n == serverPort {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: targetPort %v is not the container port %d", path, target, serverPort)
			}
			if port, _ := dig(p, "port").(float64); port != 80 {
				t.Errorf("%s: port = %v, want 80", path, dig(p, "port"))
			}
		}
	}
}

func TestKubernetesMigrateJob(t *testing.T) {
	t.Parallel()
	docs := kubernetesDocs(t)
	jobs := ofKind(docs, "Job")
	if len(jobs) == 0 {
		t.Fatal("no Job")
	}
	for path, job := range jobs {
		if dig(job, "spec", "backoffLimit") == nil {
			t.Errorf("%s: no backoffLimit", path)
		}
		if dig(job, "spec", "ttlSecondsAfterFinished") == nil {
			t.Errorf("%s: no ttlSecondsAfterFinished", path)
		}
		podSpec := dig(job, "spec", "template", "spec")
		if rp := str(dig(podSpec, "restartPolicy")); rp != "Never" && rp != "OnFailure" {
			t.Errorf("%s: restartPolicy = %q, want Never or OnFailure", path, rp)
		}
		checkPodSecurity(t, path, podSpec)
		containers := list(dig(podSpec, "containers"))
		if len(containers) == 0 {
			t.Errorf("%s: no containers", path)
		}
		for _, c := range containers {
			where := path + ": container " + str(dig(c, "name"))
			run := append(words(dig(c, "command")), words(dig(c, "args"))...)
			if !slices.Contains(run, "migrate") {
				t.Errorf("%s: command/args %q do not run migrate", where, run)
			}
			checkEnvFrom(t, where, c, docs)
		}
	}
}

func TestKubernetesConfigValuesAreStrings(t *testing.T) {
	t.Parallel()
	for path, doc := range kubernetesDocs(t) {
		var field string
		switch str(doc["kind"]) {
		case "ConfigMap":
			field = "data"
		case "Secret":
			field = "stringData"
		default:
			continue
		}
		values, ok := doc[field].(map[string]any)
		if !ok || len(values) == 0 {
			t.Errorf("%s: no %s", path, field)
		}
		for k, v := range values {
			if _, ok := v.(string); !ok {
				t.Errorf("%s: %s.%s = %v (%T), must be a quoted string", path, field, k, v, v)
			}
		}
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerfileStages(t)
	if len(stages) < 2 {
		t.Fatalf("%s: want a multi-stage build, found %d stage(s)", dockerfile, len(stages))
	}
	all := strings.Join(slices.Concat(stages...), "\n")
	if !strings.Contains(all, "CGO_ENABLED=0") {
		t.Errorf("%s: CGO_ENABLED=0 missing", dockerfile)
	}
	if !strings.Contains(all, "go mod download") {
		t.Errorf("%s: no go mod download layer", dockerfile)
	}

	final := stages[len(stages)-1]
	// A bare docker run must not come up in development mode, which seeds
	// an example manager and prints its password.
	if !slices.ContainsFunc(final, func(ins string) bool {
		return keyword(ins) == "ENV" && strings.Contains(ins, "ENROLLKIT_ENV=production")
	}) {
		t.Errorf("%s: the final stage does not set ENROLLKIT_ENV=production", dockerfile)
	}
	from := final[0]
	if strings.Contains(from, "golang:") {
		t.Errorf("%s: final stage %q is the Go toolchain image", dockerfile, from)
	}
	user := ""
	for _, ins := range final {
		if keyword(ins) == "USER" {
			user = strings.TrimSpace(ins[len("USER"):])
		}
	}
	switch name, _, _ := strings.Cut(user, ":"); {
	case user == "":
		t.Errorf("%s: final stage sets no USER", dockerfile)
	case name == "root" || name == "0":
		t.Errorf("%s: final stage runs as %q", dockerfile, user)
	}
	want := map[string]bool{"EXPOSE": false, "ENTRYPOINT": false, "CMD": false}
	for _, ins := range final {
		kw := keyword(ins)
		switch {
		case kw == "EXPOSE" && strings.Contains(ins, strconv.Itoa(serverPort)):
			want[kw] = true
		case kw == "ENTRYPOINT" && strings.Contains(ins, `"/enrollkit"`):
			want[kw] = true
		case kw == "CMD" && strings.Contains(ins, `"serve"`):
			want[kw] = true
		}
	}
	for kw, ok := range want {
		if !ok {
			t.Errorf("%s: final stage lacks the expected %s", dockerfile, kw)
		}
	}
}

// TestExampleEnvIsComplete checks that every ENROLLKIT_* variable the
// deployment files mention is documented in example.env, and that
// example.env names only variables the configuration package knows.
func TestExampleEnvIsComplete(t *testing.T) {
	t.Parallel()
	documented := exampleEnv(t)

	files := []string{composeFile, dockerfile}
	yamls, err := filepath.Glob(filepath.Join(kubernetesDir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, yamls...)
	for _, path := range files {
		for _, name := range envVarRE.FindAllString(string(readFile(t, path)), -1) {
			if !documented[name] {
				t.Errorf("%s mentions %s, which %s does not document", path, name, exampleEnvFile)
			}
		}
	}

	src, err := os.ReadFile(configSource)
	if errors.Is(err, fs.ErrNotExist) {
		t.Logf("%s not found; not checking %s against it", configSource, exampleEnvFile)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(ENROLLKIT_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]] = true
	}
	for _, name := range sortedKeys(documented) {
		if !known[name] {
			t.Errorf("%s documents %s, which %s does not read", exampleEnvFile, name, configSource)
		}
	}
}

// exampleEnv parses example.env: NAME=value lines, each directly below a
// comment describing it.
func exampleEnv(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	assign := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, exampleEnvFile)))
	prev := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch m := assign.FindStringSubmatch(line); {
		case line == "" || strings.HasPrefix(line, "#"):
		case m == nil:
			t.Errorf("%s:%d: not a comment or NAME=value: %q", exampleEnvFile, n, line)
		case vars[m[1]]:
			t.Errorf("%s:%d: %s set twice", exampleEnvFile, n, m[1])
		default:
			vars[m[1]] = true
			if !strings.HasPrefix(prev, "#") {
				t.Errorf("%s:%d: %s has no comment above it", exampleEnvFile, n, m[1])
			}
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vars) == 0 {
		t.Fatalf("%s: no variables", exampleEnvFile)
	}
	return vars
}

// checkProbe checks that container c has an HTTP probe on path and on the
// server port (by number or by the name of a declared port).
func checkProbe(t *testing.T, where string, c any, probe, path string) {
	t.Helper()
	get := dig(c, probe, "httpGet")
	if get == nil {
		t.Errorf("%s: no %s.httpGet", where, probe)
		return
	}
	if got := str(dig(get, "path")); got != path {
		t.Errorf("%s: %s path = %q, want %q", where, probe, got, path)
	}
	port := dig(get, "port")
	n, ok := declaredPort(c, port)
	if f, isNum := port.(float64); isNum {
		n, ok = int(f), true // a numeric probe port need not be declared
	}
	if !ok || n != serverPort {
		t.Errorf("%s: %s port %v, want %d", where, probe, port, serverPort)
	}
}

// checkPodSecurity checks the hardening of a pod spec and its containers.
func checkPodSecurity(t *testing.T, where string, podSpec any) {
	t.Helper()
	podNonRoot := dig(podSpec, "securityContext", "runAsNonRoot")
	for _, c := range list(dig(podSpec, "containers")) {
		w := where + ": container " + str(dig(c, "name"))
		sc := dig(c, "securityContext")
		nonRoot := dig(sc, "runAsNonRoot")
		if nonRoot == nil {
			nonRoot = podNonRoot
		}
		if nonRoot != true {
			t.Errorf("%s: runAsNonRoot must be true", w)
		}
		if dig(sc, "readOnlyRootFilesystem") != true {
			t.Errorf("%s: readOnlyRootFilesystem must be true", w)
		}
		if dig(sc, "allowPrivilegeEscalation") != false {
			t.Errorf("%s: allowPrivilegeEscalation must be false", w)
		}
		if drop := words(dig(sc, "capabilities", "drop")); !slices.Contains(drop, "ALL") {
			t.Errorf("%s: capabilities.drop must contain ALL, got %q", w, drop)
		}
	}
}

// checkEnvFrom checks that every ConfigMap and Secret a container loads
// with envFrom is defined among the manifests.
func checkEnvFrom(t *testing.T, where string, c any, docs map[string]map[string]any) {
	t.Helper()
	sources := list(dig(c, "envFrom"))
	if len(sources) == 0 {
		t.Errorf("%s: no envFrom", where)
	}
	for _, src := range sources {
		for field, kind := range map[string]string{"configMapRef": "ConfigMap", "secretRef": "Secret"} {
			ref := dig(src, field)
			if ref == nil {
				continue
			}
			name := str(dig(ref, "name"))
			found := false
			for _, d := range ofKind(docs, kind) {
				found = found || str(dig(d, "metadata", "name")) == name
			}
			if !found {
				t.Errorf("%s: envFrom %s %q is not defined in %s", where, kind, name, kubernetesDir)
			}
		}
	}
}

// declaredPort resolves a port reference (number or name) against the
// ports container c declares.
func declaredPort(c, ref any) (int, bool) {
	for _, p := range list(dig(c, "ports")) {
		n, _ := dig(p, "containerPort").(float64)
		switch r := ref.(type) {
		case float64:
			if r == n {
				return int(n), true
			}
		case string:
			if r != "" && r == str(dig(p, "name")) {
				return int(n), true
			}
		}
	}
	return 0, false
}

// kubernetesDocs parses every kubernetes/*.yaml file, keyed by path.
func kubernetesDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(kubernetesDir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no manifests in %s", kubernetesDir)
	}
	docs := map[string]map[string]any{}
	for _, p := range paths {
		docs[p] = parseYAMLFile(t, p)
	}
	return docs
}

func ofKind(docs map[string]map[string]any, kind string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for p, d := range docs {
		if str(d["kind"]) == kind {
			out[p] = d
		}
	}
	return out
}

// parseYAMLFile parses a file holding exactly one YAML document.
func parseYAMLFile(t *testing.T, path string) map[string]any {
	t.Helper()
	data := readFile(t, path)
	docs := 0
	for _, part := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(data), -1) {
		if hasContent(part) {
			docs++
		}
	}
	if docs != 1 {
		t.Fatalf("%s: %d YAML documents, want exactly 1", path, docs)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if doc == nil {
		t.Fatalf("%s: empty document", path)
	}
	return doc
}

// hasContent reports whether a YAML fragment holds more than comments.
func hasContent(s string) bool {
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}

// dockerfileStages returns the Dockerfile's instructions (continuation
// lines joined, comments dropped) grouped by stage, each starting at FROM.
func dockerfileStages(t *testing.T) [][]string {
	t.Helper()
	var (
		stages  [][]string
		pending string
	)
	for line := range strings.Lines(string(readFile(t, dockerfile))) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += strings.TrimSpace(cont) + " "
			continue
		}
		ins := pending + line
		pending = ""
		switch {
		case keyword(ins) == "FROM":
			stages = append(stages, []string{ins})
		case len(stages) > 0:
			stages[len(stages)-1] = append(stages[len(stages)-1], ins)
		}
	}
	return stages
}

func keyword(instruction string) string {
	kw, _, _ := strings.Cut(instruction, " ")
	return strings.ToUpper(kw)
}

// buildContext returns the context of a compose build: entry.
func buildContext(b any) string {
	if s, ok := b.(string); ok {
		return s
	}
	return str(dig(b, "context"))
}

// environment normalizes a compose environment (mapping or KEY=VALUE list).
func environment(t *testing.T, service string, v any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, val := range e {
			env[k] = str(val)
		}
	case []any:
		for _, item := range e {
			k, val, _ := strings.Cut(str(item), "=")
			env[k] = val
		}
	default:
		t.Errorf("%s: no environment", service)
	}
	return env
}

// dig walks nested maps by key; it returns nil when a step is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// words returns a command as a list: YAML lists as is, strings split on
// spaces.
func words(v any) []string {
	switch c := v.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		out := make([]string, 0, len(c))
		for _, w := range c {
			out = append(out, str(w))
		}
		return out
	}
	return nil
}

func str(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	default:
		return fmt.Sprint(s)
	}
}

// subset reports whether every key of sub has the same value in m.
func subset(sub, m map[string]any) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
