// Package lms holds enrollkit's domain: organizations and their people, the
// course catalog, user groups, invitations and redemptions, the rules they
// obey and the services that act on them: each rule a method of the type it
// judges (Validate, Apply, Redeemable), each limit a named constant that the
// validation, its messages and the OpenAPI document read. It imports only the
// standard library and Unicode tables (normalization, confusables), so the
// rules can be read and tested without HTTP or SQL.
package lms
