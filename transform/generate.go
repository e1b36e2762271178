package transform

// docs/transforms.md is generated from the built-in specs; a test in
// internal/gendocs fails when it is stale.
//go:generate go run ./internal/gendocs -out ../docs/transforms.md
