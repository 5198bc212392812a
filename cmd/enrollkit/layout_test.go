package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces the package layout: only api imports gin, the
// domain imports nothing outside the standard library but Unicode's own
// tables (normalization and confusables, pure functions of text), and the
// pieces that
// wrap one dependency stay free of the others.
func TestImportRules(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/enrollkit/enrollkit/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/enrollkit/enrollkit"
	forbidden := map[string][]string{
		mod + "/pkg/lms":       {"gin-gonic", "gorm.io", mod + "/"}, // plus: standard library only, below
		mod + "/pkg/auth":      {"gin-gonic", "gorm.io", mod + "/api", mod + "/pkg/store"},
		mod + "/pkg/config":    {"gin-gonic", "gorm.io"},
		mod + "/pkg/ratelimit": {"gin-gonic", "gorm.io"},
		mod + "/pkg/store":     {"gin-gonic", mod + "/api"},
		mod + "/pkg/mail":      {"gin-gonic", "gorm.io"},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range p.Imports {
			if strings.Contains(imp, "gin-gonic/gin") && p.ImportPath != mod+"/api" && !strings.HasPrefix(p.ImportPath, mod+"/api/") {
				t.Errorf("%s imports %s: only api may import gin", p.ImportPath, imp)
			}
			for _, bad := range forbidden[p.ImportPath] {
				if strings.Contains(imp, bad) {
					t.Errorf("%s must not import %s", p.ImportPath, imp)
				}
			}
			if p.ImportPath == mod+"/pkg/lms" && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !unicodeTables[imp] {
				t.Errorf("the domain package imports %s: standard library only", imp)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}

// unicodeTables are the packages the domain may import besides the
// standard library: Unicode's normalization and confusables data, which
// define what an email address is equal to.
var unicodeTables = map[string]bool{"golang.org/x/text/unicode/norm": true, "github.com/mtibben/confusables": true}

// TestTopLevelLayout keeps the repository's top level to the fixed set, so
// that a stray build output or scratch file cannot be committed unnoticed.
func TestTopLevelLayout(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("git", "-C", "../..", "ls-files").Output()
	if err != nil {
		t.Skipf("the top level is checked on a git checkout; git ls-files: %v", err)
	}
	allowed := map[string]bool{"api": true, "cmd": true, "pkg": true, "docs": true, "deployments": true,
		"go.mod": true, "go.sum": true, "Dockerfile": true, "README.md": true,
		".ci": true, ".gitignore": true, ".dockerignore": true}
	for path := range strings.Lines(string(out)) {
		top, _, _ := strings.Cut(strings.TrimSuffix(path, "\n"), "/")
		if !allowed[top] {
			t.Errorf("%s is outside the repository's fixed top level", path)
		}
	}
}

// TestNoCopiedLibraries: libraries come in through go.mod as published,
// never as copies in the tree, which get none of upstream's fixes. A copy
// gives itself away by its licence or its assembly; the password hash in
// particular is golang.org/x/crypto/argon2's.
func TestNoCopiedLibraries(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("git", "-C", "../..", "ls-files").Output()
	if err != nil {
		t.Skipf("the tree is checked on a git checkout; git ls-files: %v", err)
	}
	for path := range strings.Lines(string(out)) {
		path = strings.TrimSuffix(path, "\n")
		base := path[strings.LastIndex(path, "/")+1:]
		if strings.HasPrefix(base, "LICENSE") || strings.HasPrefix(base, "COPYING") || strings.HasSuffix(base, ".s") {
			t.Errorf("%s looks like part of a copied library", path)
		}
	}
	imports, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "github.com/enrollkit/enrollkit/pkg/auth").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\n"+string(imports), "\ngolang.org/x/crypto/argon2\n") {
		t.Errorf("pkg/auth does not hash with golang.org/x/crypto/argon2; it imports:\n%s", imports)
	}
}
