package config

import (
	"github.com/coder/serpent"
)

// GantryValues holds gantry-only extension options. They are not part of
// Coder's option set, so they stay out of the `config` JSON object
// (DeploymentValues.Gantry is tagged json:"-"); they do appear, annotated
// gantry=true, in the options list.
type GantryValues struct {
	// UpdateCheckURL is the GitHub "latest release" endpoint the update
	// checker polls.
	UpdateCheckURL serpent.URL
	// UpdateCheckInterval is how often the update checker polls.
	UpdateCheckInterval serpent.Duration
	// ShutdownGracePeriod is how long a stopping server lets in-flight
	// requests (AI Bridge streams included) finish before it ends them.
	ShutdownGracePeriod serpent.Duration
}

// AnnotationGantry marks options that only gantry has.
const AnnotationGantry = "gantry"

// gantryOptions is the clearly separated section of the table for options
// Coder does not have. Conventions: env prefix GANTRY_, YAML under the
// "gantry" group, annotation gantry=true. Add new extensions here.
func (c *DeploymentValues) gantryOptions() serpent.OptionSet {
	group := serpent.Group{
		Name:        "Gantry",
		YAML:        "gantry",
		Description: "Options that only gantry has (not part of Coder's option set).",
	}
	ann := serpent.Annotations{AnnotationGantry: "true"}
	return serpent.OptionSet{
		{
			Name:        "Update Check URL",
			Description: "Release endpoint (GitHub API \"latest release\" format) polled by the update check.",
			Flag:        "update-check-url",
			Env:         "GANTRY_UPDATE_CHECK_URL",
			YAML:        "updateCheckURL",
			Default:     "https://api.github.com/repos/gantry-dev/gantry/releases/latest",
			Value:       &c.Gantry.UpdateCheckURL,
			Annotations: ann,
			Group:       &group,
			Hidden:      true,
		},
		{
			Name:        "Update Check Interval",
			Description: "How often the update check polls the release endpoint.",
			Flag:        "update-check-interval",
			Env:         "GANTRY_UPDATE_CHECK_INTERVAL",
			YAML:        "updateCheckInterval",
			Default:     "24h0m0s",
			Value:       &c.Gantry.UpdateCheckInterval,
			Annotations: ann.Mark(annotationFormatDuration, "true"),
			Group:       &group,
			Hidden:      true,
		},
		{
			Name: "Shutdown Grace Period",
			Description: "On SIGTERM or SIGINT, how long in-flight requests and AI Bridge streams may run " +
				"before they are ended (streams with a provider-shaped error event); records are flushed after.",
			Flag:        "shutdown-grace-period",
			Env:         "GANTRY_SHUTDOWN_GRACE_PERIOD",
			YAML:        "shutdownGracePeriod",
			Default:     "15s",
			Value:       &c.Gantry.ShutdownGracePeriod,
			Annotations: ann.Mark(annotationFormatDuration, "true"),
			Group:       &group,
		},
	}
}
