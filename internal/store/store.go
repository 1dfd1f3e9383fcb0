// Package store is gantry's persistence contract: the entity types, the Store
// interface and the sentinel errors. Two backends implement it (store/sqlite,
// the zero-set-up default, and store/postgres, for replicas sharing one
// database); both pass the conformance suite in store/storetest.
//
// Rules every implementation follows:
//   - Methods that look up one row return ErrNotFound when there is none, never
//     (nil, nil) or a zero value with a nil error.
//   - Inserts that would break a uniqueness rule return ErrConflict (wrapped,
//     so errors.Is works); the wrapped message names the field when possible.
//   - All times are stored and returned in UTC, with at least microsecond
//     precision.
//   - Soft-deleted users are invisible to every lookup except GetUserByID with
//     IncludeDeleted semantics described on the method.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors, checked with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// ConflictError is the error behind ErrConflict when the store knows which
// field broke a uniqueness rule ("username", "email", "id", "token_name",
// "name"). errors.Is(err, ErrConflict) holds for it; errors.As gives the field.
type ConflictError struct {
	Field string
}

func (e *ConflictError) Error() string { return "conflict: duplicate " + e.Field }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// UserStatus is the lifecycle state of a user account.
type UserStatus string

const (
	UserStatusActive    UserStatus = "active"
	UserStatusSuspended UserStatus = "suspended"
	UserStatusDormant   UserStatus = "dormant"
)

// LoginType says how a user or an API key authenticates.
type LoginType string

const (
	LoginTypePassword LoginType = "password"
	LoginTypeGithub   LoginType = "github"
	LoginTypeOIDC     LoginType = "oidc"
	LoginTypeToken    LoginType = "token"
	LoginTypeNone     LoginType = "none"
)

// User is a person (or service account) who can sign in.
type User struct {
	ID             uuid.UUID
	Email          string
	Username       string
	Name           string
	AvatarURL      string
	HashedPassword []byte
	Status         UserStatus
	LoginType      LoginType
	// Roles are site-wide role names ("owner", "auditor", "user-admin"). The
	// implicit "member" role is never stored.
	Roles      []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastSeenAt time.Time
	Deleted    bool
}

// UserFilter narrows ListUsers. Zero fields do not filter.
type UserFilter struct {
	// Search matches a case-insensitive substring of username or email.
	Search string
	Status UserStatus
	Role   string
	// AfterID is a keyset cursor: return users ordered after this one
	// (ordering is username ascending, case-insensitively). An ID that names
	// no user gives ErrNotFound.
	AfterID uuid.UUID
	Offset  int
	Limit   int // 0 = no limit
}

// UserUpdate changes selected fields of a user; nil fields stay unchanged.
type UserUpdate struct {
	Email          *string
	Username       *string
	Name           *string
	AvatarURL      *string
	HashedPassword []byte
	Status         *UserStatus
	Roles          *[]string
	LastSeenAt     *time.Time
	Deleted        *bool
}

// APIKey is a session or API token. The token string a client holds is
// "<ID>-<secret>"; only SHA-256(secret) is stored.
type APIKey struct {
	ID              string // 10 characters
	HashedSecret    []byte // 32 bytes, SHA-256 of the secret
	UserID          uuid.UUID
	LastUsed        time.Time // zero time (0001-...) or Unix epoch when never used
	ExpiresAt       time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	LoginType       LoginType
	LifetimeSeconds int64
	IPAddress       string
	// TokenName is unique per user for LoginTypeToken keys; empty for sessions.
	TokenName string
	Scopes    []string // e.g. ["coder:all"]
	AllowList []string // e.g. ["*:*"]
}

// APIKeyFilter narrows ListAPIKeys.
type APIKeyFilter struct {
	UserID uuid.UUID // uuid.Nil = all users
	// LoginType filters on the key's login type; "" = any.
	LoginType LoginType
	// IncludeExpired also returns keys whose ExpiresAt is not after Now
	// (without it only keys with ExpiresAt > Now are listed).
	IncludeExpired bool
	// Now is the reference time for the expiry filter; zero means time.Now().
	Now time.Time
}

// APIKeyUsage is the periodic write that keeps last_used and the sliding
// expiry up to date.
type APIKeyUsage struct {
	LastUsed  time.Time
	ExpiresAt time.Time
	IPAddress string
}

// Organization groups users. gantry has exactly one, the default organization.
type Organization struct {
	ID        uuid.UUID
	Name      string
	IsDefault bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Interception is one request through the AI Bridge gateway.
type Interception struct {
	ID              uuid.UUID
	InitiatorID     uuid.UUID
	APIKeyID        string
	Provider        string // provider type: anthropic, openai, copilot
	ProviderName    string // configured instance name
	Model           string
	Client          string // guessed client, e.g. "Claude Code"
	ClientSessionID string
	UserAgent       string
	Metadata        json.RawMessage // JSON object or nil
	StartedAt       time.Time
	EndedAt         *time.Time
}

// TokenUsage is the usage block of one upstream response.
type TokenUsage struct {
	ID                    uuid.UUID
	InterceptionID        uuid.UUID
	ProviderResponseID    string
	InputTokens           int64
	OutputTokens          int64
	CacheReadInputTokens  int64
	CacheWriteInputTokens int64
	// Metadata holds provider-specific extra counters (JSON object or nil).
	Metadata  json.RawMessage
	CreatedAt time.Time
}

// UserPrompt is the last user prompt of an interception.
type UserPrompt struct {
	ID                 uuid.UUID
	InterceptionID     uuid.UUID
	ProviderResponseID string
	Prompt             string
	Metadata           json.RawMessage
	CreatedAt          time.Time
}

// ToolUsage is one tool call the model made.
type ToolUsage struct {
	ID                 uuid.UUID
	InterceptionID     uuid.UUID
	ProviderResponseID string
	ProviderToolCallID string
	ServerURL          string // empty for client-defined tools
	Tool               string
	Input              string // JSON arguments as sent by the model
	Injected           bool
	InvocationError    string
	Metadata           json.RawMessage
	CreatedAt          time.Time
}

// ModelThought is a thinking block or reasoning summary.
type ModelThought struct {
	ID             uuid.UUID
	InterceptionID uuid.UUID
	Content        string
	Metadata       json.RawMessage // e.g. {"source":"thinking"}
	CreatedAt      time.Time
}

// InterceptionEnd marks an interception as finished.
type InterceptionEnd struct {
	ID      uuid.UUID
	EndedAt time.Time
}

// AIBridgeBatch is a group of gateway records written in one transaction.
// Rows are inserted in field order (interceptions first, ends last), so a
// batch may start and end the same interception.
type AIBridgeBatch struct {
	Interceptions []Interception
	TokenUsages   []TokenUsage
	UserPrompts   []UserPrompt
	ToolUsages    []ToolUsage
	ModelThoughts []ModelThought
	Ends          []InterceptionEnd
}

// Len is the number of rows in the batch.
func (b *AIBridgeBatch) Len() int {
	return len(b.Interceptions) + len(b.TokenUsages) + len(b.UserPrompts) +
		len(b.ToolUsages) + len(b.ModelThoughts) + len(b.Ends)
}

// InterceptionFilter narrows ListInterceptions. Only ended interceptions are
// listed, newest first (started_at DESC, id DESC).
type InterceptionFilter struct {
	InitiatorID   uuid.UUID // uuid.Nil = everyone
	Provider      string    // matches provider type or provider name
	Model         string
	Client        string    // "Unknown" also matches an empty client
	StartedAfter  time.Time // inclusive
	StartedBefore time.Time // inclusive
	// AfterID is a keyset cursor: rows that sort after this interception.
	// An ID that names no interception gives ErrNotFound.
	AfterID uuid.UUID
	Offset  int
	Limit   int // 0 = no limit
}

// InterceptionDetail is an interception with its child records.
type InterceptionDetail struct {
	Interception
	Initiator     User
	TokenUsages   []TokenUsage
	UserPrompts   []UserPrompt
	ToolUsages    []ToolUsage
	ModelThoughts []ModelThought
}

// Pool is one database/sql connection pool of a backend, named for metrics:
// prometheus collectors.NewDBStatsCollector(p.DB, p.Name).
type Pool struct {
	Name string
	DB   *sql.DB
}

// PoolLister is implemented by both SQL backends (sqlite: "sqlite_writer" and
// "sqlite_reader"; postgres: "postgres"), so the composition root can register
// pool metrics without knowing which backend it opened.
type PoolLister interface {
	Pools() []Pool
}

// Store is everything gantry persists. Implementations are safe for
// concurrent use.
type Store interface {
	// Ping checks the database connection.
	Ping(ctx context.Context) error
	// Close releases the database handles.
	Close() error
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string

	// EnsureSiteConfig stores value under key unless the key exists, and
	// returns the stored value either way. Safe when replicas race.
	EnsureSiteConfig(ctx context.Context, key, value string) (string, error)
	// GetSiteConfig returns ErrNotFound when the key is absent.
	GetSiteConfig(ctx context.Context, key string) (string, error)
	// UpsertSiteConfig sets key to value.
	UpsertSiteConfig(ctx context.Context, key, value string) error

	// DefaultOrganization returns the default organization, creating it on
	// first use (safe when replicas race).
	DefaultOrganization(ctx context.Context) (Organization, error)

	// InsertUser creates a user; ErrConflict on a duplicate username or email
	// (case-insensitive) among non-deleted users.
	InsertUser(ctx context.Context, u User) (User, error)
	// InsertFirstUser creates u only if no user exists yet, atomically;
	// ErrConflict when a user already exists (deleted users do not count, as
	// in CountUsers).
	InsertFirstUser(ctx context.Context, u User) (User, error)
	// GetUserByID returns deleted users too (check User.Deleted).
	GetUserByID(ctx context.Context, id uuid.UUID) (User, error)
	// GetUserByUsername matches case-insensitively; non-deleted users only.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// GetUserByEmail matches case-insensitively; non-deleted users only.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// CountUsers counts non-deleted users.
	CountUsers(ctx context.Context) (int64, error)
	// ListUsers returns non-deleted users ordered by username and the total
	// count matching the filter (ignoring Offset/Limit/AfterID).
	ListUsers(ctx context.Context, f UserFilter) ([]User, int64, error)
	// UpdateUser applies upd and returns the new row; ErrNotFound or
	// ErrConflict as for InsertUser.
	UpdateUser(ctx context.Context, id uuid.UUID, upd UserUpdate) (User, error)

	// InsertAPIKey stores a key; ErrConflict on a duplicate ID or a duplicate
	// (user, token name) for named tokens; ErrNotFound when the user does not
	// exist.
	InsertAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	GetAPIKeyByID(ctx context.Context, id string) (APIKey, error)
	GetAPIKeyByName(ctx context.Context, userID uuid.UUID, tokenName string) (APIKey, error)
	// ListAPIKeys returns keys ordered by created_at ascending.
	ListAPIKeys(ctx context.Context, f APIKeyFilter) ([]APIKey, error)
	// UpdateAPIKeyUsage records last use and the slid expiry.
	UpdateAPIKeyUsage(ctx context.Context, id string, u APIKeyUsage) error
	// DeleteAPIKey returns ErrNotFound when no such key exists.
	DeleteAPIKey(ctx context.Context, id string) error
	// DeleteAPIKeysByUser removes every key of a user and returns their IDs.
	DeleteAPIKeysByUser(ctx context.Context, userID uuid.UUID) ([]string, error)
	// DeleteExpiredAPIKeys removes up to limit keys that expired before the
	// cutoff (oldest first; limit <= 0 means 10 000) and returns how many.
	DeleteExpiredAPIKeys(ctx context.Context, before time.Time, limit int) (int64, error)

	// InsertAIBridgeBatch writes a batch of gateway records in one
	// transaction. Rows whose ID already exists are ignored, so a retried
	// batch is harmless; an end only sets ended_at once. Rows with a nil ID
	// get a fresh one. Metadata must be valid JSON (else the whole batch
	// fails); it is read back semantically equal, not byte-for-byte.
	InsertAIBridgeBatch(ctx context.Context, b AIBridgeBatch) error
	// ListInterceptions returns ended interceptions with their children and
	// the total count matching the filter (ignoring paging).
	ListInterceptions(ctx context.Context, f InterceptionFilter) ([]InterceptionDetail, int64, error)
	// GetInterception returns one interception (ended or not) with children.
	GetInterception(ctx context.Context, id uuid.UUID) (InterceptionDetail, error)
	// DeleteInterceptionsBefore deletes up to limit interceptions that started
	// before the cutoff (oldest first; limit <= 0 means 10 000), with all
	// their child rows, and returns how many interceptions it deleted. Call
	// it until it returns less than limit.
	DeleteInterceptionsBefore(ctx context.Context, before time.Time, limit int) (int64, error)
}
