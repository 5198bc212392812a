// Package docs holds enrollkit's generated API description: swag writes the
// Swagger 2.0 swagger.json from the handlers' annotations, and
// cmd/enrollkit-openapi converts it to the OpenAPI 3 openapi.json that the
// server serves and the tests validate every response against. Never edit
// either file by hand; run `go generate ./...`.
package docs

import _ "embed"

//go:generate go tool swag init --quiet --requiredByDefault --generalInfo server.go --dir ../api --output . --outputTypes json
//go:generate go run ../cmd/enrollkit-openapi -in swagger.json -out openapi.json
//go:generate go run ../cmd/enrollkit-postman -spec openapi.json -flow postman/flow.json -out postman/enrollkit.postman_collection.json

// OpenAPI is the OpenAPI 3 document of the API.
//
//go:embed openapi.json
var OpenAPI []byte
