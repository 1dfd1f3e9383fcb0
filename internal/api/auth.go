package api

// IdentityOptions configure users, sessions and API keys.
type IdentityOptions struct{}
