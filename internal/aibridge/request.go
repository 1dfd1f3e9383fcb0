package aibridge

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/tidwall/gjson"
)

// reqInfo is what the gateway reads from an intercepted request body. It is
// extracted with gjson, which scans without building a document tree.
type reqInfo struct {
	model        string
	stream       bool
	includeUsage bool // chat: stream_options.include_usage already true
	background   bool // responses: background mode
	prompt       string
	hasPrompt    bool
	metadataUser string // anthropic metadata.user_id (Claude Code session)
}

func parseRequest(api apiKind, body []byte) reqInfo {
	var ri reqInfo
	res := gjson.GetManyBytes(body, "model", "stream", "stream_options.include_usage", "background", "metadata.user_id")
	ri.model = res[0].Str
	ri.stream = res[1].Bool()
	ri.includeUsage = res[2].Bool()
	ri.background = res[3].Bool()
	ri.metadataUser = res[4].Str
	switch api {
	case apiMessages, apiChat:
		ri.prompt, ri.hasPrompt = lastUserText(gjson.GetBytes(body, "messages"))
	case apiResponses:
		ri.prompt, ri.hasPrompt = responsesPrompt(gjson.GetBytes(body, "input"))
	}
	return ri
}

// lastUserText returns the last text part of the last message when that
// message is the user's (a tool result as last message is not a prompt).
func lastUserText(msgs gjson.Result) (string, bool) {
	var last gjson.Result
	msgs.ForEach(func(_, m gjson.Result) bool { last = m; return true })
	if !last.Exists() || last.Get("role").Str != "user" {
		return "", false
	}
	c := last.Get("content")
	if c.Type == gjson.String {
		return c.Str, true
	}
	text, ok := "", false
	c.ForEach(func(_, part gjson.Result) bool {
		if part.Get("type").Str == "text" {
			text, ok = part.Get("text").Str, true
		}
		return true
	})
	return text, ok
}

// responsesPrompt: a string input, or the input_text parts of the last
// input item when it is a user message, joined by newlines.
func responsesPrompt(in gjson.Result) (string, bool) {
	if in.Type == gjson.String {
		return in.Str, true
	}
	var last gjson.Result
	in.ForEach(func(_, m gjson.Result) bool { last = m; return true })
	if !last.Exists() || last.Get("role").Str != "user" {
		return "", false
	}
	if t := last.Get("type").Str; t != "" && t != "message" {
		return "", false
	}
	c := last.Get("content")
	if c.Type == gjson.String {
		return c.Str, true
	}
	var parts []string
	c.ForEach(func(_, p gjson.Result) bool {
		if p.Get("type").Str == "input_text" {
			parts = append(parts, p.Get("text").Str)
		}
		return true
	})
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, "\n"), true
}

// Client names recorded per interception.
const (
	ClientClaudeCode    = "Claude Code"
	ClientCodex         = "Codex"
	ClientZed           = "Zed"
	ClientCopilotVSCode = "GitHub Copilot (VS Code)"
	ClientCopilotCLI    = "GitHub Copilot (CLI)"
	ClientKilo          = "Kilo Code"
	ClientRoo           = "Roo Code"
	ClientCoderAgents   = "Coder Agents"
	ClientCrush         = "Charm Crush"
	ClientCursor        = "Cursor"
	ClientMux           = "Mux"
	ClientUnknown       = "Unknown"
)

// guessClient names the calling agent from its User-Agent and headers;
// first match wins.
func guessClient(h http.Header) string {
	ua := strings.ToLower(h.Get("User-Agent"))
	orig := strings.ToLower(h.Get("Originator"))
	switch {
	case strings.Contains(ua, "mux/"):
		return ClientMux
	case strings.Contains(ua, "claude"):
		return ClientClaudeCode
	case strings.Contains(ua, "codex"), strings.HasPrefix(orig, "codex"):
		return ClientCodex
	case strings.Contains(ua, "zed/"):
		return ClientZed
	case strings.Contains(ua, "githubcopilotchat/"):
		return ClientCopilotVSCode
	case strings.Contains(ua, "copilot/"):
		return ClientCopilotCLI
	case strings.Contains(ua, "kilo-code/"), orig == "kilo-code":
		return ClientKilo
	case strings.Contains(ua, "roo-code/"), orig == "roo-code":
		return ClientRoo
	case strings.Contains(ua, "coder-agents/"):
		return ClientCoderAgents
	case strings.Contains(ua, "charm crush/"):
		return ClientCrush
	case h.Get("X-Cursor-Client-Version") != "":
		return ClientCursor
	}
	return ClientUnknown
}

var legacySessionRE = regexp.MustCompile(`_session_([0-9a-fA-F-]{36})$`)

// guessSession returns the client's own session id, if it sends one.
func guessSession(client string, h http.Header, ri *reqInfo) string {
	var s string
	switch client {
	case ClientClaudeCode:
		s = h.Get("X-Claude-Code-Session-Id")
		if s == "" && ri.metadataUser != "" {
			if gjson.Valid(ri.metadataUser) {
				s = gjson.Get(ri.metadataUser, "session_id").Str
			} else if m := legacySessionRE.FindStringSubmatch(ri.metadataUser); m != nil {
				s = m[1]
			}
		}
	case ClientCodex:
		s = h.Get("Session_id")
		if s == "" {
			s = h.Get("Session-Id")
		}
	case ClientMux:
		s = h.Get("X-Mux-Workspace-Id")
	case ClientCopilotVSCode:
		s = h.Get("X-Interaction-Id")
	case ClientCopilotCLI:
		s = h.Get("X-Client-Session-Id")
	case ClientKilo:
		s = h.Get("X-Kilocode-Taskid")
	case ClientCoderAgents:
		s = h.Get("X-Coder-Chat-Id")
	}
	return strings.TrimSpace(s)
}
