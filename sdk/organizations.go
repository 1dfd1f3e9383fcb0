package sdk

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Organization is an organization as Coder's clients read it. gantry has
// exactly one, the default organization, and every user belongs to it.
type Organization struct {
	ID                    uuid.UUID `json:"id"`
	Name                  string    `json:"name"`
	DisplayName           string    `json:"display_name"`
	Icon                  string    `json:"icon"`
	Description           string    `json:"description"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
	IsDefault             bool      `json:"is_default"`
	DefaultOrgMemberRoles []string  `json:"default_org_member_roles"`
}

// OrganizationsByUser lists the organizations a user belongs to.
func (c *Client) OrganizationsByUser(ctx context.Context, user string) ([]Organization, error) {
	var out []Organization
	err := c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user)+"/organizations", nil, http.StatusOK, &out)
	return out, err
}

// OrganizationByName returns an organization by name or id.
func (c *Client) OrganizationByName(ctx context.Context, name string) (Organization, error) {
	var out Organization
	err := c.do(ctx, http.MethodGet, "/api/v2/organizations/"+url.PathEscape(name), nil, http.StatusOK, &out)
	return out, err
}
