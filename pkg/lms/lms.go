// Package lms holds enrollkit's domain: organizations and their people, the
// course catalog, user groups, invitations and redemptions, the rules they
// obey and the services that act on them. It imports only the standard
// library, so the rules can be read and tested without HTTP or SQL.
package lms
