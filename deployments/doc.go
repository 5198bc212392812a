// Package deployments holds enrollkit's deployment files: the Docker Compose
// stack, Kubernetes manifests and an example environment file. Its tests
// check that these files parse and stay consistent with each other.
package deployments
