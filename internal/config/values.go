// Package config is gantry's deployment configuration: one declarative option
// table (Options) over one value tree (DeploymentValues), plus the indexed
// provider environment parsers, validation and secret redaction.
//
// The value tree mirrors the `config` object of Coder's
// GET /api/v2/deployment/config key for key. Its leaves are coder/serpent
// value types, so the JSON encodings (durations as integer nanoseconds, URL and
// host:port values as strings, Struct values as their inner JSON) come out
// right by construction. Field order follows the reference server so the
// encoded object reads the same.
package config

import (
	"github.com/coder/serpent"
	"github.com/google/uuid"
)

// DeploymentValues holds every deployment option value. Marshal it through a
// pointer: several serpent types (URL, HostPort, Regexp) only have
// pointer-receiver JSON methods.
type DeploymentValues struct {
	Verbose                                 serpent.Bool                         `json:"verbose,omitempty"`
	AccessURL                               serpent.URL                          `json:"access_url,omitempty"`
	WildcardAccessURL                       serpent.String                       `json:"wildcard_access_url,omitempty"`
	DocsURL                                 serpent.URL                          `json:"docs_url,omitempty"`
	RedirectToAccessURL                     serpent.Bool                         `json:"redirect_to_access_url,omitempty"`
	HTTPAddress                             serpent.String                       `json:"http_address,omitempty"`
	AutobuildPollInterval                   serpent.Duration                     `json:"autobuild_poll_interval,omitempty"`
	JobReaperDetectorInterval               serpent.Duration                     `json:"job_hang_detector_interval,omitempty"`
	DERP                                    DERP                                 `json:"derp,omitempty"`
	Prometheus                              PrometheusConfig                     `json:"prometheus,omitempty"`
	Pprof                                   PprofConfig                          `json:"pprof,omitempty"`
	ProxyTrustedHeaders                     serpent.StringArray                  `json:"proxy_trusted_headers,omitempty"`
	ProxyTrustedOrigins                     serpent.StringArray                  `json:"proxy_trusted_origins,omitempty"`
	CacheDir                                serpent.String                       `json:"cache_directory,omitempty"`
	EphemeralDeployment                     serpent.Bool                         `json:"ephemeral_deployment,omitempty"`
	PostgresURL                             serpent.String                       `json:"pg_connection_url,omitempty"`
	PostgresAuth                            string                               `json:"pg_auth,omitempty"`
	PostgresConnMaxOpen                     serpent.Int64                        `json:"pg_conn_max_open,omitempty"`
	PostgresConnMaxIdle                     serpent.String                       `json:"pg_conn_max_idle,omitempty"`
	OAuth2                                  OAuth2Config                         `json:"oauth2,omitempty"`
	OIDC                                    OIDCConfig                           `json:"oidc,omitempty"`
	Telemetry                               TelemetryConfig                      `json:"telemetry,omitempty"`
	TLS                                     TLSConfig                            `json:"tls,omitempty"`
	Trace                                   TraceConfig                          `json:"trace,omitempty"`
	HTTPCookies                             HTTPCookieConfig                     `json:"http_cookies,omitempty"`
	StrictTransportSecurity                 serpent.Int64                        `json:"strict_transport_security,omitempty"`
	StrictTransportSecurityOptions          serpent.StringArray                  `json:"strict_transport_security_options,omitempty"`
	SSHKeygenAlgorithm                      serpent.String                       `json:"ssh_keygen_algorithm,omitempty"`
	MetricsCacheRefreshInterval             serpent.Duration                     `json:"metrics_cache_refresh_interval,omitempty"`
	AgentStatRefreshInterval                serpent.Duration                     `json:"agent_stat_refresh_interval,omitempty"`
	AgentFallbackTroubleshootingURL         serpent.URL                          `json:"agent_fallback_troubleshooting_url,omitempty"`
	BrowserOnly                             serpent.Bool                         `json:"browser_only,omitempty"`
	SCIMAPIKey                              serpent.String                       `json:"scim_api_key,omitempty"`
	ExternalTokenEncryptionKeys             serpent.StringArray                  `json:"external_token_encryption_keys,omitempty"`
	Provisioner                             ProvisionerConfig                    `json:"provisioner,omitempty"`
	RateLimit                               RateLimitConfig                      `json:"rate_limit,omitempty"`
	Experiments                             serpent.StringArray                  `json:"experiments,omitempty"`
	UpdateCheck                             serpent.Bool                         `json:"update_check,omitempty"`
	Swagger                                 SwaggerConfig                        `json:"swagger,omitempty"`
	Logging                                 LoggingConfig                        `json:"logging,omitempty"`
	Dangerous                               DangerousConfig                      `json:"dangerous,omitempty"`
	DisablePathApps                         serpent.Bool                         `json:"disable_path_apps,omitempty"`
	Sessions                                SessionLifetime                      `json:"session_lifetime,omitempty"`
	DisablePasswordAuth                     serpent.Bool                         `json:"disable_password_auth,omitempty"`
	Support                                 SupportConfig                        `json:"support,omitempty"`
	ExternalAuthConfigs                     serpent.Struct[[]ExternalAuthConfig] `json:"external_auth,omitempty"`
	ExternalAuthGithubDefaultProviderEnable serpent.Bool                         `json:"external_auth_github_default_provider_enable,omitempty"`
	SSHConfig                               SSHConfig                            `json:"config_ssh,omitempty"`
	WgtunnelHost                            serpent.String                       `json:"wgtunnel_host,omitempty"`
	DisableOwnerWorkspaceExec               serpent.Bool                         `json:"disable_owner_workspace_exec,omitempty"`
	DisableWorkspaceSharing                 serpent.Bool                         `json:"disable_workspace_sharing,omitempty"`
	ProxyHealthStatusInterval               serpent.Duration                     `json:"proxy_health_status_interval,omitempty"`
	EnableTerraformDebugMode                serpent.Bool                         `json:"enable_terraform_debug_mode,omitempty"`
	UserQuietHoursSchedule                  UserQuietHoursScheduleConfig         `json:"user_quiet_hours_schedule,omitempty"`
	WebTerminalRenderer                     serpent.String                       `json:"web_terminal_renderer,omitempty"`
	AllowWorkspaceRenames                   serpent.Bool                         `json:"allow_workspace_renames,omitempty"`
	Healthcheck                             HealthcheckConfig                    `json:"healthcheck,omitempty"`
	Retention                               RetentionConfig                      `json:"retention,omitempty"`
	CLIUpgradeMessage                       serpent.String                       `json:"cli_upgrade_message,omitempty"`
	TermsOfServiceURL                       serpent.String                       `json:"terms_of_service_url,omitempty"`
	Notifications                           NotificationsConfig                  `json:"notifications,omitempty"`
	AdditionalCSPPolicy                     serpent.StringArray                  `json:"additional_csp_policy,omitempty"`
	WorkspaceHostnameSuffix                 serpent.String                       `json:"workspace_hostname_suffix,omitempty"`
	Prebuilds                               PrebuildsConfig                      `json:"workspace_prebuilds,omitempty"`
	HideAITasks                             serpent.Bool                         `json:"hide_ai_tasks,omitempty"`
	AI                                      AIConfig                             `json:"ai,omitempty"`
	StatsCollection                         StatsCollectionConfig                `json:"stats_collection,omitempty"`
	EnableAuthzRecording                    serpent.Bool                         `json:"enable_authz_recording,omitempty"`
	Config                                  serpent.YAMLConfigPath               `json:"config,omitempty"`
	WriteConfig                             serpent.Bool                         `json:"write_config,omitempty"`
	// Address is the deprecated single listen address; it is copied into
	// HTTPAddress (or TLS.Address when TLS is enabled) at start-up.
	Address serpent.HostPort `json:"address,omitempty"`

	// Gantry holds gantry-only extension options (gantry_options.go). They
	// are not part of Coder's `config` object.
	Gantry GantryValues `json:"-"`
}

// DERP configures the embedded relay (accepted for compatibility; gantry has
// no relay).
type DERP struct {
	Server DERPServerConfig `json:"server"`
	Config DERPConfig       `json:"config"`
}

type DERPServerConfig struct {
	Enable        serpent.Bool        `json:"enable"`
	RegionID      serpent.Int64       `json:"region_id"`
	RegionCode    serpent.String      `json:"region_code"`
	RegionName    serpent.String      `json:"region_name"`
	STUNAddresses serpent.StringArray `json:"stun_addresses"`
	RelayURL      serpent.URL         `json:"relay_url"`
}

type DERPConfig struct {
	BlockDirect     serpent.Bool   `json:"block_direct"`
	ForceWebSockets serpent.Bool   `json:"force_websockets"`
	URL             serpent.String `json:"url"`
	Path            serpent.String `json:"path"`
}

type PrometheusConfig struct {
	Enable                serpent.Bool        `json:"enable"`
	Address               serpent.HostPort    `json:"address"`
	CollectAgentStats     serpent.Bool        `json:"collect_agent_stats"`
	CollectDBMetrics      serpent.Bool        `json:"collect_db_metrics"`
	AggregateAgentStatsBy serpent.StringArray `json:"aggregate_agent_stats_by"`
}

type PprofConfig struct {
	Enable  serpent.Bool     `json:"enable"`
	Address serpent.HostPort `json:"address"`
}

type OAuth2Config struct {
	Github OAuth2GithubConfig `json:"github"`
}

type OAuth2GithubConfig struct {
	ClientID              serpent.String      `json:"client_id"`
	ClientSecret          serpent.String      `json:"client_secret"`
	DeviceFlow            serpent.Bool        `json:"device_flow"`
	DefaultProviderEnable serpent.Bool        `json:"default_provider_enable"`
	AllowedOrgs           serpent.StringArray `json:"allowed_orgs"`
	AllowedTeams          serpent.StringArray `json:"allowed_teams"`
	AllowSignups          serpent.Bool        `json:"allow_signups"`
	AllowEveryone         serpent.Bool        `json:"allow_everyone"`
	EnterpriseBaseURL     serpent.String      `json:"enterprise_base_url"`
}

type OIDCConfig struct {
	AllowSignups              serpent.Bool                           `json:"allow_signups"`
	ClientID                  serpent.String                         `json:"client_id"`
	ClientSecret              serpent.String                         `json:"client_secret"`
	ClientKeyFile             serpent.String                         `json:"client_key_file"`
	ClientCertFile            serpent.String                         `json:"client_cert_file"`
	EmailDomain               serpent.StringArray                    `json:"email_domain"`
	IssuerURL                 serpent.String                         `json:"issuer_url"`
	Scopes                    serpent.StringArray                    `json:"scopes"`
	IgnoreEmailVerified       serpent.Bool                           `json:"ignore_email_verified"`
	UsernameField             serpent.String                         `json:"username_field"`
	NameField                 serpent.String                         `json:"name_field"`
	EmailField                serpent.String                         `json:"email_field"`
	AuthURLParams             serpent.Struct[map[string]string]      `json:"auth_url_params"`
	IgnoreUserInfo            serpent.Bool                           `json:"ignore_user_info"`
	UserInfoFromAccessToken   serpent.Bool                           `json:"source_user_info_from_access_token"`
	OrganizationField         serpent.String                         `json:"organization_field"`
	OrganizationMapping       serpent.Struct[map[string][]uuid.UUID] `json:"organization_mapping"`
	OrganizationAssignDefault serpent.Bool                           `json:"organization_assign_default"`
	GroupAutoCreate           serpent.Bool                           `json:"group_auto_create"`
	GroupRegexFilter          serpent.Regexp                         `json:"group_regex_filter"`
	GroupAllowList            serpent.StringArray                    `json:"group_allow_list"`
	GroupField                serpent.String                         `json:"groups_field"`
	GroupMapping              serpent.Struct[map[string]string]      `json:"group_mapping"`
	UserRoleField             serpent.String                         `json:"user_role_field"`
	UserRoleMapping           serpent.Struct[map[string][]string]    `json:"user_role_mapping"`
	UserRolesDefault          serpent.StringArray                    `json:"user_roles_default"`
	SignInText                serpent.String                         `json:"sign_in_text"`
	IconURL                   serpent.URL                            `json:"icon_url"`
	SignupsDisabledText       serpent.String                         `json:"signups_disabled_text"`
	SkipIssuerChecks          serpent.Bool                           `json:"skip_issuer_checks"`
	RedirectURL               serpent.URL                            `json:"redirect_url"`
}

// TelemetryConfig is accepted for compatibility only: gantry never sends
// telemetry anywhere, whatever these values say.
type TelemetryConfig struct {
	Enable serpent.Bool `json:"enable"`
	// Trace is a field of Coder's struct that no option sets; it is kept so
	// the JSON object has the same keys.
	Trace serpent.Bool `json:"trace"`
	URL   serpent.URL  `json:"url"`
}

type TLSConfig struct {
	Enable               serpent.Bool        `json:"enable"`
	Address              serpent.HostPort    `json:"address"`
	RedirectHTTP         serpent.Bool        `json:"redirect_http"`
	CertFiles            serpent.StringArray `json:"cert_file"`
	ClientAuth           serpent.String      `json:"client_auth"`
	ClientCAFile         serpent.String      `json:"client_ca_file"`
	KeyFiles             serpent.StringArray `json:"key_file"`
	MinVersion           serpent.String      `json:"min_version"`
	ClientCertFile       serpent.String      `json:"client_cert_file"`
	ClientKeyFile        serpent.String      `json:"client_key_file"`
	SupportedCiphers     serpent.StringArray `json:"supported_ciphers"`
	AllowInsecureCiphers serpent.Bool        `json:"allow_insecure_ciphers"`
}

type TraceConfig struct {
	Enable          serpent.Bool   `json:"enable"`
	HoneycombAPIKey serpent.String `json:"honeycomb_api_key"`
	CaptureLogs     serpent.Bool   `json:"capture_logs"`
	DataDog         serpent.Bool   `json:"data_dog"`
}

type HTTPCookieConfig struct {
	Secure           serpent.Bool `json:"secure_auth_cookie,omitempty"`
	SameSite         string       `json:"same_site,omitempty"`
	EnableHostPrefix bool         `json:"host_prefix,omitempty"`
}

type ProvisionerConfig struct {
	Daemons             serpent.Int64       `json:"daemons"`
	DaemonTypes         serpent.StringArray `json:"daemon_types"`
	DaemonPollInterval  serpent.Duration    `json:"daemon_poll_interval"`
	DaemonPollJitter    serpent.Duration    `json:"daemon_poll_jitter"`
	ForceCancelInterval serpent.Duration    `json:"force_cancel_interval"`
	DaemonPSK           serpent.String      `json:"daemon_psk"`
}

type RateLimitConfig struct {
	DisableAll serpent.Bool  `json:"disable_all"`
	API        serpent.Int64 `json:"api"`
}

type SwaggerConfig struct {
	Enable serpent.Bool `json:"enable"`
}

type LoggingConfig struct {
	Filter      serpent.StringArray `json:"log_filter"`
	Human       serpent.String      `json:"human"`
	JSON        serpent.String      `json:"json"`
	Stackdriver serpent.String      `json:"stackdriver"`
}

type DangerousConfig struct {
	AllowPathAppSharing         serpent.Bool `json:"allow_path_app_sharing"`
	AllowPathAppSiteOwnerAccess serpent.Bool `json:"allow_path_app_site_owner_access"`
	AllowAllCors                serpent.Bool `json:"allow_all_cors"`
}

// SessionLifetime holds the session and API token lifetimes.
type SessionLifetime struct {
	DisableExpiryRefresh      serpent.Bool     `json:"disable_expiry_refresh,omitempty"`
	DefaultDuration           serpent.Duration `json:"default_duration"`
	RefreshDefaultDuration    serpent.Duration `json:"refresh_default_duration,omitempty"`
	DefaultTokenDuration      serpent.Duration `json:"default_token_lifetime,omitempty"`
	MaximumTokenDuration      serpent.Duration `json:"max_token_lifetime,omitempty"`
	MaximumAdminTokenDuration serpent.Duration `json:"max_admin_token_lifetime,omitempty"`
}

type SupportConfig struct {
	Links serpent.Struct[[]LinkConfig] `json:"links"`
}

// LinkConfig is one support link shown in the UI.
type LinkConfig struct {
	Name     string `json:"name" yaml:"name"`
	Target   string `json:"target" yaml:"target"`
	Icon     string `json:"icon" yaml:"icon"`
	Location string `json:"location,omitempty" yaml:"location,omitempty"`
}

// ExternalAuthConfig is one external auth (Git provider) configuration, from
// YAML or from CODER_EXTERNAL_AUTH_<N>_<KEY>. ClientSecret and ExtraTokenKeys
// are never serialized to JSON.
type ExternalAuthConfig struct {
	Type                string   `json:"type" yaml:"type"`
	ClientID            string   `json:"client_id" yaml:"client_id"`
	ClientSecret        string   `json:"-" yaml:"client_secret"`
	ID                  string   `json:"id" yaml:"id"`
	AuthURL             string   `json:"auth_url" yaml:"auth_url"`
	TokenURL            string   `json:"token_url" yaml:"token_url"`
	ValidateURL         string   `json:"validate_url" yaml:"validate_url"`
	RevokeURL           string   `json:"revoke_url" yaml:"revoke_url"`
	AppInstallURL       string   `json:"app_install_url" yaml:"app_install_url"`
	AppInstallationsURL string   `json:"app_installations_url" yaml:"app_installations_url"`
	NoRefresh           bool     `json:"no_refresh" yaml:"no_refresh"`
	Scopes              []string `json:"scopes" yaml:"scopes,omitempty"`
	ExtraTokenKeys      []string `json:"-" yaml:"extra_token_keys,omitempty"`
	DeviceFlow          bool     `json:"device_flow" yaml:"device_flow"`
	DeviceCodeURL       string   `json:"device_code_url" yaml:"device_code_url"`
	MCPURL              string   `json:"mcp_url" yaml:"mcp_url"`
	MCPToolAllowRegex   string   `json:"mcp_tool_allow_regex" yaml:"mcp_tool_allow_regex"`
	MCPToolDenyRegex    string   `json:"mcp_tool_deny_regex" yaml:"mcp_tool_deny_regex"`
	PKCEMethods         []string `json:"code_challenge_methods_supported" yaml:"pkce_methods,omitempty"`
	APIBaseURL          string   `json:"api_base_url" yaml:"api_base_url"`
	Regex               string   `json:"regex" yaml:"regex"`
	DisplayName         string   `json:"display_name" yaml:"display_name"`
	DisplayIcon         string   `json:"display_icon" yaml:"display_icon"`
}

// SSHConfig has no json tags on purpose: the reference server sends the keys
// "DeploymentName" and "SSHConfigOptions".
type SSHConfig struct {
	DeploymentName   serpent.String
	SSHConfigOptions serpent.StringArray
}

type UserQuietHoursScheduleConfig struct {
	DefaultSchedule serpent.String `json:"default_schedule"`
	AllowUserCustom serpent.Bool   `json:"allow_user_custom"`
}

type HealthcheckConfig struct {
	Refresh           serpent.Duration `json:"refresh"`
	ThresholdDatabase serpent.Duration `json:"threshold_database"`
}

type RetentionConfig struct {
	AuditLogs          serpent.Duration `json:"audit_logs"`
	ConnectionLogs     serpent.Duration `json:"connection_logs"`
	APIKeys            serpent.Duration `json:"api_keys"`
	WorkspaceAgentLogs serpent.Duration `json:"workspace_agent_logs"`
	BoundaryLogs       serpent.Duration `json:"boundary_logs"`
}

type NotificationsConfig struct {
	MaxSendAttempts     serpent.Int64              `json:"max_send_attempts"`
	RetryInterval       serpent.Duration           `json:"retry_interval"`
	StoreSyncInterval   serpent.Duration           `json:"sync_interval"`
	StoreSyncBufferSize serpent.Int64              `json:"sync_buffer_size"`
	LeasePeriod         serpent.Duration           `json:"lease_period"`
	LeaseCount          serpent.Int64              `json:"lease_count"`
	FetchInterval       serpent.Duration           `json:"fetch_interval"`
	Method              serpent.String             `json:"method"`
	DispatchTimeout     serpent.Duration           `json:"dispatch_timeout"`
	SMTP                NotificationsEmailConfig   `json:"email"`
	Webhook             NotificationsWebhookConfig `json:"webhook"`
	Inbox               NotificationsInboxConfig   `json:"inbox"`
}

type NotificationsEmailConfig struct {
	From      serpent.String               `json:"from"`
	Smarthost serpent.String               `json:"smarthost"`
	Hello     serpent.String               `json:"hello"`
	Auth      NotificationsEmailAuthConfig `json:"auth"`
	TLS       NotificationsEmailTLSConfig  `json:"tls"`
	ForceTLS  serpent.Bool                 `json:"force_tls"`
}

type NotificationsEmailAuthConfig struct {
	Identity     serpent.String `json:"identity"`
	Username     serpent.String `json:"username"`
	Password     serpent.String `json:"password"`
	PasswordFile serpent.String `json:"password_file"`
}

type NotificationsEmailTLSConfig struct {
	StartTLS           serpent.Bool   `json:"start_tls"`
	ServerName         serpent.String `json:"server_name"`
	InsecureSkipVerify serpent.Bool   `json:"insecure_skip_verify"`
	CAFile             serpent.String `json:"ca_file"`
	CertFile           serpent.String `json:"cert_file"`
	KeyFile            serpent.String `json:"key_file"`
}

type NotificationsWebhookConfig struct {
	Endpoint serpent.URL `json:"endpoint"`
}

type NotificationsInboxConfig struct {
	Enabled serpent.Bool `json:"enabled"`
}

type PrebuildsConfig struct {
	ReconciliationInterval        serpent.Duration `json:"reconciliation_interval"`
	ReconciliationBackoffInterval serpent.Duration `json:"reconciliation_backoff_interval"`
	ReconciliationBackoffLookback serpent.Duration `json:"reconciliation_backoff_lookback"`
	FailureHardLimit              serpent.Int64    `json:"failure_hard_limit"`
}

type AIConfig struct {
	BridgeConfig      AIBridgeConfig      `json:"bridge,omitempty"`
	BridgeProxyConfig AIBridgeProxyConfig `json:"aibridge_proxy,omitempty"`
	Chat              ChatConfig          `json:"chat,omitempty"`
}

// AIBridgeConfig configures the LLM gateway. The final provider list (legacy
// single-provider options merged with indexed providers) is produced by
// BuildAIBridgeProviders; Providers holds the indexed ones only.
type AIBridgeConfig struct {
	Enabled serpent.Bool `json:"enabled"`
	// Deprecated: use indexed providers (CODER_AIBRIDGE_PROVIDER_<N>_*).
	LegacyOpenAI AIBridgeOpenAIConfig `json:"openai"`
	// Deprecated: use indexed providers.
	LegacyAnthropic AIBridgeAnthropicConfig `json:"anthropic"`
	// Deprecated: use indexed providers.
	LegacyBedrock AIBridgeBedrockConfig `json:"bedrock"`
	// Providers are read from CODER_AIBRIDGE_PROVIDER_<N>_<KEY>; they are not
	// an option (no flag, env option or YAML key).
	Providers                      []AIBridgeProviderConfig `json:"providers,omitempty"`
	InjectCoderMCPTools            serpent.Bool             `json:"inject_coder_mcp_tools"`
	Retention                      serpent.Duration         `json:"retention"`
	MaxConcurrency                 serpent.Int64            `json:"max_concurrency"`
	RateLimit                      serpent.Int64            `json:"rate_limit"`
	StructuredLogging              serpent.Bool             `json:"structured_logging"`
	SendActorHeaders               serpent.Bool             `json:"send_actor_headers"`
	AllowBYOK                      serpent.Bool             `json:"allow_byok"`
	CircuitBreakerEnabled          serpent.Bool             `json:"circuit_breaker_enabled"`
	CircuitBreakerFailureThreshold serpent.Int64            `json:"circuit_breaker_failure_threshold"`
	CircuitBreakerInterval         serpent.Duration         `json:"circuit_breaker_interval"`
	CircuitBreakerTimeout          serpent.Duration         `json:"circuit_breaker_timeout"`
	CircuitBreakerMaxRequests      serpent.Int64            `json:"circuit_breaker_max_requests"`
}

type AIBridgeOpenAIConfig struct {
	BaseURL serpent.String `json:"base_url"`
	Key     serpent.String `json:"key"`
}

type AIBridgeAnthropicConfig struct {
	BaseURL serpent.String `json:"base_url"`
	Key     serpent.String `json:"key"`
}

type AIBridgeBedrockConfig struct {
	BaseURL         serpent.String `json:"base_url"`
	Region          serpent.String `json:"region"`
	AccessKey       serpent.String `json:"access_key"`
	AccessKeySecret serpent.String `json:"access_key_secret"`
	Model           serpent.String `json:"model"`
	SmallFastModel  serpent.String `json:"small_fast_model"`
}

type AIBridgeProxyConfig struct {
	Enabled             serpent.Bool        `json:"enabled"`
	ListenAddr          serpent.String      `json:"listen_addr"`
	TLSCertFile         serpent.String      `json:"tls_cert_file"`
	TLSKeyFile          serpent.String      `json:"tls_key_file"`
	CertFile            serpent.String      `json:"cert_file"`
	KeyFile             serpent.String      `json:"key_file"`
	DomainAllowlist     serpent.StringArray `json:"domain_allowlist"`
	UpstreamProxy       serpent.String      `json:"upstream_proxy"`
	UpstreamProxyCA     serpent.String      `json:"upstream_proxy_ca"`
	AllowedPrivateCIDRs serpent.StringArray `json:"allowed_private_cidrs"`
}

type ChatConfig struct {
	AcquireBatchSize    serpent.Int64 `json:"acquire_batch_size"`
	DebugLoggingEnabled serpent.Bool  `json:"debug_logging_enabled"`
}

type StatsCollectionConfig struct {
	UsageStats UsageStatsConfig `json:"usage_stats"`
}

type UsageStatsConfig struct {
	Enable serpent.Bool `json:"enable"`
}
