package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"strings"

	"github.com/enrollkit/enrollkit/pkg/auth"
	"github.com/enrollkit/enrollkit/pkg/lms"
)

// orgCommand handles `enrollkit org create`.
func orgCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: enrollkit org create --name NAME --manager-email EMAIL --manager-password PASSWORD"}
	}
	fs := flag.NewFlagSet("org create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "organization name")
	email := fs.String("manager-email", "", "the first Full Manager's email")
	password := fs.String("manager-password", "", "the first Full Manager's password")
	first := fs.String("manager-first-name", "", "the manager's first name (default Full)")
	last := fs.String("manager-last-name", "", "the manager's last name (default Manager)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{"org create: " + err.Error()}
	}
	if *name == "" || *email == "" || *password == "" {
		return usageError{"org create: --name, --manager-email and --manager-password are required"}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	db, st, err := openStore(ctx, cfg, auth.NewHasher(auth.HasherOptions{}))
	if err != nil {
		return err
	}
	defer db.Close()
	setup, err := st.CreateOrganization(ctx, lms.NewOrganization{Name: *name, ManagerEmail: *email,
		ManagerPassword: *password, ManagerFirstName: *first, ManagerLastName: *last})
	if err != nil {
		var e *lms.Error
		if errors.As(err, &e) && len(e.Fields) > 0 {
			parts := make([]string, len(e.Fields))
			for i, f := range e.Fields {
				parts[i] = "--" + strings.ReplaceAll(f.Field, "_", "-") + " " + f.Message
			}
			return usageError{"org create: " + strings.Join(parts, "; ")}
		}
		return err
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(map[string]string{
		"organization_id":       setup.OrganizationID,
		"organization_group_id": setup.OrganizationGroupID,
		"manager_id":            setup.ManagerID,
	})
}
