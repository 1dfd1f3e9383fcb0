package aibridge

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ProviderType is the wire protocol family of a provider instance.
type ProviderType string

const (
	TypeAnthropic ProviderType = "anthropic"
	TypeOpenAI    ProviderType = "openai"
	TypeCopilot   ProviderType = "copilot"
)

// Default upstream base URLs per type. OpenAI's includes /v1 because the
// OpenAI route prefix does (clients use <gantry>/api/v2/aibridge/<name>/v1).
const (
	DefaultAnthropicBaseURL = "https://api.anthropic.com/"
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1/"
	DefaultCopilotBaseURL   = "https://api.individual.githubcopilot.com"
)

// Provider is one configured upstream instance.
type Provider struct {
	// Name is the route segment: /api/v2/aibridge/<Name>/...; lowercase
	// alphanumerics with single hyphens.
	Name    string
	Type    ProviderType
	BaseURL string // empty = the type's default
	// Key is the central credential sent upstream (X-Api-Key for Anthropic,
	// Bearer for OpenAI). Copilot ignores it: the caller's bearer is used.
	Key string
	// Bedrock settings are accepted and validated but Bedrock routing is not
	// implemented yet; a provider with Bedrock set answers 501.
	Bedrock *Bedrock
}

// Bedrock holds the AWS Bedrock settings of an anthropic provider.
type Bedrock struct {
	BaseURL         string
	Region          string
	AccessKey       string
	AccessKeySecret string
	Model           string
	SmallFastModel  string
}

// CircuitBreaker configures the per (provider, route, model) breaker
// (issue 6; not enforced yet).
type CircuitBreaker struct {
	Enabled          bool
	FailureThreshold int
	Interval         time.Duration
	Timeout          time.Duration
	MaxRequests      int
}

// RecorderConfig bounds the asynchronous record writer.
type RecorderConfig struct {
	// QueueSize is the number of pending interception records held in
	// memory (default 8192). When the queue is full a request waits for
	// room (backpressure), at most EnqueueTimeout; only then is its record
	// dropped, logged and counted. While the last write failed (database
	// down) a full queue drops at once instead of stalling requests.
	QueueSize      int
	EnqueueTimeout time.Duration // default 10s
	// MaxBatch is the most rows written in one transaction (default 512).
	MaxBatch int
	// Linger is how long the writer waits for more records once it has one,
	// so that concurrent requests share a transaction (default 5ms).
	Linger time.Duration
	// WriteTimeout bounds one batch write (default 10s); a failed batch is
	// retried up to 3 times before it is dropped.
	WriteTimeout time.Duration
}

// Config is the gateway's own configuration; the composition root maps the
// deployment options into it.
type Config struct {
	Providers []Provider
	// AllowBYOK lets callers that authenticate with
	// X-Coder-AI-Governance-Token keep their own provider credential.
	AllowBYOK bool
	// SendActorHeaders adds X-AI-Bridge-Actor-ID and
	// X-AI-Bridge-Actor-Metadata-Username upstream (not for copilot).
	SendActorHeaders  bool
	StructuredLogging bool
	CircuitBreaker    CircuitBreaker
	MaxConcurrency    int           // issue 6; 0 = unlimited
	RateLimit         int           // issue 6; requests per token per second, 0 = off
	Retention         time.Duration // issue 6; 0 = keep forever

	// MaxRequestBodyBytes bounds a request body on intercepted routes
	// (default 32 MiB); larger bodies get 413.
	MaxRequestBodyBytes int64
	// BlockingTimeout bounds a non-streaming upstream call (default 10m).
	BlockingTimeout time.Duration
	// StreamIdleTimeout cancels an upstream that sends nothing for this long,
	// before or during a stream (default 5m).
	StreamIdleTimeout time.Duration
	// MaxIdleConnsPerHost sizes the warm upstream pool (default 256).
	MaxIdleConnsPerHost int
	// DialTimeout and TLSHandshakeTimeout bound connection setup (10s each).
	DialTimeout         time.Duration
	TLSHandshakeTimeout time.Duration

	Recorder RecorderConfig
}

var nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// reservedNames collide with the query API under /api/v2/aibridge.
var reservedNames = map[string]bool{"interceptions": true, "sessions": true, "models": true, "clients": true, "proxy": true}

func (c *Config) setDefaults() {
	r := &c.Recorder
	defaultTo(&r.QueueSize, 8192)
	defaultTo(&r.EnqueueTimeout, 10*time.Second)
	defaultTo(&r.Linger, 5*time.Millisecond)
	defaultTo(&r.MaxBatch, 512)
	defaultTo(&r.WriteTimeout, 10*time.Second)
	defaultTo(&c.MaxRequestBodyBytes, 32<<20)
	defaultTo(&c.BlockingTimeout, 10*time.Minute)
	defaultTo(&c.StreamIdleTimeout, 5*time.Minute)
	defaultTo(&c.MaxIdleConnsPerHost, 256)
	defaultTo(&c.DialTimeout, 10*time.Second)
	defaultTo(&c.TLSHandshakeTimeout, 10*time.Second)
	defaultTo(&c.CircuitBreaker.FailureThreshold, 5)
	defaultTo(&c.CircuitBreaker.Interval, 10*time.Second)
	defaultTo(&c.CircuitBreaker.Timeout, 30*time.Second)
	defaultTo(&c.CircuitBreaker.MaxRequests, 3)
}

// defaultTo sets *v to d when it is zero or negative (unset).
func defaultTo[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Validate checks names, types and URLs.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Providers {
		switch p.Type {
		case TypeAnthropic, TypeOpenAI, TypeCopilot:
		default:
			errs = append(errs, fmt.Errorf("provider %d: unknown type %q (want anthropic, openai or copilot)", i, p.Type))
		}
		if !nameRE.MatchString(p.Name) {
			errs = append(errs, fmt.Errorf("provider %d: name %q must be lowercase letters and digits separated by single hyphens", i, p.Name))
		} else if reservedNames[p.Name] {
			errs = append(errs, fmt.Errorf("provider %d: name %q is reserved", i, p.Name))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("provider %d: duplicate name %q; set distinct names", i, p.Name))
		}
		seen[p.Name] = true
		if p.BaseURL != "" {
			u, err := url.Parse(p.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("provider %q: invalid base URL %q", p.Name, p.BaseURL))
			}
		}
		if p.Bedrock != nil && p.Type != TypeAnthropic {
			errs = append(errs, fmt.Errorf("provider %q: bedrock settings need type anthropic", p.Name))
		}
		if b := p.Bedrock; b != nil && (b.AccessKey == "") != (b.AccessKeySecret == "") {
			errs = append(errs, fmt.Errorf("provider %q: bedrock access key and secret must be set together", p.Name))
		}
	}
	return errors.Join(errs...)
}

func defaultBaseURL(t ProviderType) string {
	switch t {
	case TypeAnthropic:
		return DefaultAnthropicBaseURL
	case TypeOpenAI:
		return DefaultOpenAIBaseURL
	default:
		return DefaultCopilotBaseURL
	}
}

// parseBase parses a base URL and drops its trailing slash so that route
// suffixes (which start with "/") join cleanly.
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}
