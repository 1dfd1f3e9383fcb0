// Package config is gantry's deployment option table (Coder's option set).
package config

// DeploymentValues holds every deployment option value. (Placeholder; the
// configuration work replaces it with the full table.)
type DeploymentValues struct{}
