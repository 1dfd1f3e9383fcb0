package app

import (
	"context"

	"gantry/internal/api"
)

// aibridgeOptions builds the AI Bridge gateway and returns the options that
// mount it under /api/v2/aibridge/ (see api.AIBridgeOptions and routes.go).
// HOOK for the gateway: construct it here from s.vals.AI.Bridge,
// s.cfg.Environ, s.store, s.logger, s.registry (its own metrics) and s.authn
// (the token validator shared with the API, so both see the same cache and
// invalidations), register its shutdown in s.closers, and start background
// work with s.goBackground(ctx, ...). The gateway's routes bypass the General API rate
// limiter and CSRF middleware; it enforces its own limits.
func (s *Server) aibridgeOptions(ctx context.Context) (api.AIBridgeOptions, error) {
	_ = ctx
	return api.AIBridgeOptions{}, nil
}
