package api

// AIBridgeOptions configure the AI Bridge routes.
type AIBridgeOptions struct{}
