// Command enrollkit runs the enrollkit API.
//
//	enrollkit [serve]      run the HTTP server (migrates first)
//	enrollkit migrate      apply database migrations and exit
//	enrollkit org create --name NAME --manager-email EMAIL --manager-password PASSWORD
//	enrollkit courses import --org ORG_ID FILE.csv
//
// Configuration comes from ENROLLKIT_* environment variables (see README).
// With none set, serve uses an SQLite file in ./data and, on an empty
// database, creates an example organization and prints how to sign in.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// exitUsage is the status for bad configuration or arguments.
const exitUsage = 2

func main() {
	// The API speaks UTC (RFC 3339 with Z); database drivers return times
	// in the process's local zone, so make that UTC whatever TZ says.
	time.Local = time.UTC
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks a mistake of the caller, answered with exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, getenv, stdout)
	case "org":
		err = orgCommand(ctx, args, getenv, stdout)
	case "courses":
		err = coursesCommand(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: enrollkit [serve | migrate | org create --name NAME --manager-email EMAIL --manager-password PASSWORD | courses import --org ORG_ID FILE.csv]")
		return 0
	default:
		err = usageError{fmt.Sprintf("unknown command %q; try enrollkit help", cmd)}
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "enrollkit:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "enrollkit:", err)
		return 1
	}
}
