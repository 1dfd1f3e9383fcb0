package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// BuildInfoResponse describes the server build (GET /api/v2/buildinfo).
type BuildInfoResponse struct {
	// ExternalURL links to the source of this build.
	ExternalURL string `json:"external_url"`
	// Version is the semantic version of the server ("v0.0.0-devel" for
	// development builds).
	Version string `json:"version"`
	// DashboardURL is the deployment's access URL.
	DashboardURL string `json:"dashboard_url"`
	// Telemetry reports whether usage telemetry is enabled.
	Telemetry bool `json:"telemetry"`
	// WorkspaceProxy is true only for workspace proxies; always false for gantry.
	WorkspaceProxy        bool   `json:"workspace_proxy"`
	AgentAPIVersion       string `json:"agent_api_version"`
	ProvisionerAPIVersion string `json:"provisioner_api_version"`
	// UpgradeMessage is shown by CLIs whose version does not match the server.
	UpgradeMessage string `json:"upgrade_message"`
	// DeploymentID is created on first start and never changes.
	DeploymentID     string `json:"deployment_id"`
	WebPushPublicKey string `json:"webpush_public_key,omitempty"`
}

// DeploymentConfig is GET /api/v2/deployment/config: the effective values
// (secrets blanked) and the option metadata (secret values omitted).
type DeploymentConfig struct {
	// Values is the configuration object keyed by JSON field (access_url,
	// http_address, tls, session_lifetime, ...).
	Values map[string]any `json:"config,omitempty"`
	// Options describe every option, sorted by name.
	Options []DeploymentOption `json:"options,omitempty"`
}

// DeploymentOption is the metadata and value of one server option.
type DeploymentOption struct {
	Name          string             `json:"name,omitempty"`
	Description   string             `json:"description,omitempty"`
	Required      bool               `json:"required,omitempty"`
	Flag          string             `json:"flag,omitempty"`
	FlagShorthand string             `json:"flag_shorthand,omitempty"`
	Env           string             `json:"env,omitempty"`
	YAML          string             `json:"yaml,omitempty"`
	Default       string             `json:"default,omitempty"`
	Value         json.RawMessage    `json:"value,omitempty"`
	Annotations   map[string]string  `json:"annotations,omitempty"`
	Group         *OptionGroup       `json:"group,omitempty"`
	UseInstead    []DeploymentOption `json:"use_instead,omitempty"`
	Hidden        bool               `json:"hidden,omitempty"`
	ValueSource   string             `json:"value_source,omitempty"`
}

// OptionGroup is a (possibly nested) group of options.
type OptionGroup struct {
	Name        string       `json:"name,omitempty"`
	YAML        string       `json:"yaml,omitempty"`
	Description string       `json:"description,omitempty"`
	Parent      *OptionGroup `json:"parent,omitempty"`
}

// DeploymentStats is GET /api/v2/deployment/stats. gantry manages no
// workspaces, so the workspace and session counts are zero and the latency
// percentiles are -1 ("no data").
type DeploymentStats struct {
	// AggregatedFrom is the start of the window the stats cover.
	AggregatedFrom time.Time `json:"aggregated_from"`
	// CollectedAt is when the stats were computed.
	CollectedAt time.Time `json:"collected_at"`
	// NextUpdateAt is when the next refresh is due.
	NextUpdateAt time.Time                   `json:"next_update_at"`
	Workspaces   WorkspaceDeploymentStats    `json:"workspaces"`
	SessionCount SessionCountDeploymentStats `json:"session_count"`
}

// WorkspaceDeploymentStats counts workspaces by state.
type WorkspaceDeploymentStats struct {
	Pending             int64                        `json:"pending"`
	Building            int64                        `json:"building"`
	Running             int64                        `json:"running"`
	Failed              int64                        `json:"failed"`
	Stopped             int64                        `json:"stopped"`
	ConnectionLatencyMS WorkspaceConnectionLatencyMS `json:"connection_latency_ms"`
	RxBytes             int64                        `json:"rx_bytes"`
	TxBytes             int64                        `json:"tx_bytes"`
}

// WorkspaceConnectionLatencyMS has no JSON tags on purpose: Coder's wire keys
// are "P50" and "P95".
type WorkspaceConnectionLatencyMS struct {
	P50 float64
	P95 float64
}

// SessionCountDeploymentStats counts open sessions by kind.
type SessionCountDeploymentStats struct {
	VSCode          int64 `json:"vscode"`
	SSH             int64 `json:"ssh"`
	JetBrains       int64 `json:"jetbrains"`
	ReconnectingPTY int64 `json:"reconnecting_pty"`
}

// SSHConfigResponse is GET /api/v2/deployment/ssh.
type SSHConfigResponse struct {
	HostnamePrefix   string            `json:"hostname_prefix"`
	HostnameSuffix   string            `json:"hostname_suffix"`
	SSHConfigOptions map[string]string `json:"ssh_config_options"`
}

// AvailableExperiments is GET /api/v2/experiments/available.
type AvailableExperiments struct {
	Safe []string `json:"safe"`
}

// UpdateCheckResponse is GET /api/v2/updatecheck.
type UpdateCheckResponse struct {
	// Current is true when the server runs the latest release (or the check
	// is disabled or has not succeeded yet).
	Current bool   `json:"current"`
	Version string `json:"version"`
	URL     string `json:"url"`
}

// CSPViolation is the body browsers POST to /api/v2/csp/reports.
type CSPViolation struct {
	Report map[string]any `json:"csp-report"`
}

// BuildInfo returns the server's build information. It needs no session.
func (c *Client) BuildInfo(ctx context.Context) (BuildInfoResponse, error) {
	var out BuildInfoResponse
	err := c.do(ctx, http.MethodGet, "/api/v2/buildinfo", nil, http.StatusOK, &out)
	return out, err
}

// DeploymentConfig returns the deployment configuration (owners and auditors).
func (c *Client) DeploymentConfig(ctx context.Context) (DeploymentConfig, error) {
	var out DeploymentConfig
	err := c.do(ctx, http.MethodGet, "/api/v2/deployment/config", nil, http.StatusOK, &out)
	return out, err
}

// DeploymentStats returns the deployment statistics (owners and auditors).
func (c *Client) DeploymentStats(ctx context.Context) (DeploymentStats, error) {
	var out DeploymentStats
	err := c.do(ctx, http.MethodGet, "/api/v2/deployment/stats", nil, http.StatusOK, &out)
	return out, err
}

// SSHConfiguration returns the deployment's SSH client settings.
func (c *Client) SSHConfiguration(ctx context.Context) (SSHConfigResponse, error) {
	var out SSHConfigResponse
	err := c.do(ctx, http.MethodGet, "/api/v2/deployment/ssh", nil, http.StatusOK, &out)
	return out, err
}

// Experiments returns the enabled experiments (never nil on success).
func (c *Client) Experiments(ctx context.Context) ([]string, error) {
	out := []string{}
	err := c.do(ctx, http.MethodGet, "/api/v2/experiments", nil, http.StatusOK, &out)
	return out, err
}

// SafeExperiments returns the experiments that "*" enables.
func (c *Client) SafeExperiments(ctx context.Context) (AvailableExperiments, error) {
	var out AvailableExperiments
	err := c.do(ctx, http.MethodGet, "/api/v2/experiments/available", nil, http.StatusOK, &out)
	return out, err
}

// UpdateCheck reports whether a newer release exists. It needs no session.
func (c *Client) UpdateCheck(ctx context.Context) (UpdateCheckResponse, error) {
	var out UpdateCheckResponse
	err := c.do(ctx, http.MethodGet, "/api/v2/updatecheck", nil, http.StatusOK, &out)
	return out, err
}

// ReportCSPViolation posts a CSP violation report. It needs no session.
func (c *Client) ReportCSPViolation(ctx context.Context, v CSPViolation) error {
	return c.do(ctx, http.MethodPost, "/api/v2/csp/reports", v, http.StatusOK, nil)
}
