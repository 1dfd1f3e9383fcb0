package api

// DeploymentOptions configure the General endpoints.
type DeploymentOptions struct{}
