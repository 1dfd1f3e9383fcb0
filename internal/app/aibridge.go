package app

import (
	"context"
	"errors"
	"fmt"

	"gantry/internal/aibridge"
	"gantry/internal/api"
	"gantry/internal/authn"
	"gantry/internal/config"
)

// aibridgeOptions builds the AI Bridge gateway from the deployment values and
// returns the options that mount it under /api/v2/aibridge/ (see
// api.AIBridgeOptions and routes.go). The gateway validates tokens with the
// API's authenticator (s.authn), so both share one cache and its
// invalidations. Its Close runs while the listeners shut down: it ends the
// interceptions still open and flushes every record before the store closes.
func (s *Server) aibridgeOptions(ctx context.Context) (api.AIBridgeOptions, error) {
	bc := s.vals.AI.BridgeConfig
	// Old records are purged whether or not the gateway is on (0 keeps them).
	if keep := bc.Retention.Value(); keep > 0 {
		logger := s.logger.With("component", "aibridge")
		s.goBackground(ctx, func(ctx context.Context) {
			aibridge.RunRetention(ctx, s.store, aibridge.RetentionOptions{Retention: keep, Logger: logger})
		})
	}
	if !bc.Enabled.Value() {
		return api.AIBridgeOptions{}, nil
	}
	cfg, err := gatewayConfig(bc)
	if err != nil {
		return api.AIBridgeOptions{}, err
	}
	gw, err := aibridge.New(aibridge.Options{
		Config:     cfg,
		Auth:       gatewayAuth{s.authn},
		Store:      s.store,
		Logger:     s.logger.With("component", "aibridge"),
		Registerer: s.registry,
		// nil unless --trace is on.
		TracerProvider: s.tracerProvider,
	})
	if err != nil {
		return api.AIBridgeOptions{}, err
	}
	// Close refuses new requests at once, lets streams run until shortly
	// before the grace period ends, then ends them and flushes the records
	// (see Server.Close).
	s.drainers = append(s.drainers, gw.Close)
	return api.AIBridgeOptions{Gateway: gw}, nil
}

// gatewayConfig maps the deployment options onto the gateway's own config.
func gatewayConfig(bc config.AIBridgeConfig) (aibridge.Config, error) {
	provs, err := config.BuildAIBridgeProviders(bc)
	if err != nil {
		return aibridge.Config{}, fmt.Errorf("ai bridge providers: %w", err)
	}
	cfg := aibridge.Config{
		AllowBYOK:         bc.AllowBYOK.Value(),
		SendActorHeaders:  bc.SendActorHeaders.Value(),
		StructuredLogging: bc.StructuredLogging.Value(),
		CircuitBreaker: aibridge.CircuitBreaker{
			Enabled:          bc.CircuitBreakerEnabled.Value(),
			FailureThreshold: int(bc.CircuitBreakerFailureThreshold.Value()),
			Interval:         bc.CircuitBreakerInterval.Value(),
			Timeout:          bc.CircuitBreakerTimeout.Value(),
			MaxRequests:      int(bc.CircuitBreakerMaxRequests.Value()),
		},
		MaxConcurrency: int(bc.MaxConcurrency.Value()),
		RateLimit:      int(bc.RateLimit.Value()),
		Retention:      bc.Retention.Value(),
	}
	for _, p := range provs {
		ap := aibridge.Provider{Name: p.Name, Type: aibridge.ProviderType(p.Type), BaseURL: p.BaseURL, Key: p.Key}
		if p.UsesBedrock() {
			ap.Bedrock = &aibridge.Bedrock{
				BaseURL: p.BedrockBaseURL, Region: p.BedrockRegion,
				AccessKey: p.BedrockAccessKey, AccessKeySecret: p.BedrockAccessKeySecret,
				Model: p.BedrockModel, SmallFastModel: p.BedrockSmallFastModel,
			}
		}
		cfg.Providers = append(cfg.Providers, ap)
	}
	return cfg, nil
}

// gatewayAuth adapts the API's token validator to the gateway.
type gatewayAuth struct{ a *authn.Authenticator }

func (g gatewayAuth) Authenticate(ctx context.Context, token string) (aibridge.Actor, error) {
	id, err := g.a.Authenticate(ctx, token)
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) && ae.Kind == authn.KindInternal {
			return aibridge.Actor{}, err
		}
		return aibridge.Actor{}, fmt.Errorf("%w: %w", aibridge.ErrUnauthorized, err)
	}
	return aibridge.Actor{UserID: id.UserID, Username: id.Username, APIKeyID: id.APIKeyID}, nil
}
