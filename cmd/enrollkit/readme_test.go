package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADMEWalkThrough runs the README's curl walk-through, as written,
// against a fresh server, so that the documented flow cannot rot.
func TestREADMEWalkThrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "grep", "cut"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walk-through needs %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Walk-through with curl")
	if !ok {
		t.Fatal("README has no walk-through section")
	}
	_, block, ok := strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatal("the walk-through has no sh block")
	}
	script, _, _ := strings.Cut(block, "```")
	script = strings.ReplaceAll(script, "go run ./cmd/enrollkit", binary)

	// Pasted into a shell without -e, the block still stops at its first
	// failing step: here the sign-in, with no server to answer it.
	dead := exec.Command("bash", "-c", script)
	dead.Dir = t.TempDir()
	dead.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "API=http://127.0.0.1:1/api/v1"}
	if out, err := dead.CombinedOutput(); err == nil || strings.Contains(string(out), "passcode:") {
		t.Fatalf("the walk-through went on after a failed step (%v):\n%s", err, out)
	}

	dir := t.TempDir()
	p := start(t, dir)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "API=" + p.url("/api/v1")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walk-through failed: %v\n%s\nserver: %s", err, out, p.stderr)
	}
	for _, want := range []string{`"course_name":"Forklift Safety"`, `"registrations_used":1`, "grace@walkthrough.example", "Warehouse onboarding",
		// Without ENROLLKIT_PUBLIC_URL the link is this server's own page.
		"open the link in the email: http://localhost:" + p.addr[strings.LastIndex(p.addr, ":")+1:] + "/enroll?passcode="} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walk-through's output lacks %s:\n%s", want, out)
		}
	}
	// The job queue wrote the manager's copy, and the verification email
	// the walk-through read its link from.
	var files []string
	for deadline := time.Now().Add(10 * time.Second); len(files) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		files, _ = filepath.Glob(filepath.Join(dir, "data", "mail", "*-owner@walkthrough.example.eml"))
	}
	if len(files) != 1 {
		t.Fatalf("want the manager's copy as one .eml file, found %v", files)
	}
	eml, _ := os.ReadFile(files[0])
	if !strings.Contains(string(eml), "Warehouse onboarding") {
		t.Errorf("the manager's copy is not the invitation:\n%s", eml)
	}
	if verify, _ := filepath.Glob(filepath.Join(dir, "data", "mail", "*-grace@walkthrough.example.eml")); len(verify) != 1 {
		t.Errorf("want one verification email to the learner, found %v", verify)
	}
}
