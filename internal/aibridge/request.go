package aibridge

import (
	"net/http"
	"regexp"
	"strings"
	"unsafe"

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
	if len(body) == 0 {
		return ri
	}
	// One pass over the top-level keys. The results alias body (no copy of
	// a possibly large request); every string kept beyond this function is
	// cloned, so the request body is not retained by the records.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	var msgs gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			ri.model = strings.Clone(v.Str)
		case "stream":
			ri.stream = v.Type == gjson.True
		case "stream_options":
			ri.includeUsage = v.Get("include_usage").Type == gjson.True
		case "background":
			ri.background = v.Type == gjson.True
		case "metadata":
			ri.metadataUser = strings.Clone(v.Get("user_id").Str)
		case "messages":
			if api != apiResponses {
				msgs = v
			}
		case "input":
			if api == apiResponses {
				msgs = v
			}
		}
		return true
	})
	switch api {
	case apiMessages, apiChat:
		ri.prompt, ri.hasPrompt = lastUserText(msgs)
	case apiResponses:
		ri.prompt, ri.hasPrompt = responsesPrompt(msgs)
	}
	ri.prompt = strings.Clone(ri.prompt)
	return ri
}

// tailElements returns the raw last elements of a JSON array that was
// already validated, last first, at most len(buf). Agents resend the whole
// conversation on every turn, so the array is most of a large request; this
// skims it (strings are skipped with IndexByte) instead of parsing every
// message, which is several times faster than iterating with gjson.
func tailElements(arr gjson.Result, buf []string) []string {
	raw := arr.Raw
	if !arr.IsArray() || len(raw) < 2 || len(buf) == 0 {
		return nil
	}
	// A ring of the last len(buf) element spans.
	type span struct{ start, end int }
	var ring [8]span
	size := min(len(buf), len(ring))
	n := 0
	depth, start := 0, -1
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			// Skip to the closing quote: one not preceded by an odd number
			// of backslashes.
			for {
				j := strings.IndexByte(raw[i+1:], '"')
				if j < 0 {
					return nil
				}
				i += j + 1
				bs := 0
				for k := i - 1; k >= 0 && raw[k] == '\\'; k-- {
					bs++
				}
				if bs%2 == 0 {
					break
				}
			}
		case '[', '{':
			depth++
			if depth == 2 {
				start = i
			}
		case ']', '}':
			depth--
			if depth == 1 && start >= 0 {
				ring[n%size] = span{start, i + 1}
				n++
				start = -1
			}
		case ',':
			if depth == 1 {
				start = -1
			}
		}
	}
	out := buf[:0]
	for k := 0; k < min(n, size); k++ {
		sp := ring[(n-1-k)%size]
		out = append(out, raw[sp.start:sp.end])
	}
	return out
}

// lastElement returns the last element of an array (objects and arrays
// only).
func lastElement(arr gjson.Result) gjson.Result {
	var buf [1]string
	if t := tailElements(arr, buf[:]); len(t) == 1 {
		return gjson.Parse(t[0])
	}
	return gjson.Result{}
}

// lastTurn returns the last message that is not a system or developer
// instruction. Claude Code's default model ends messages with a
// role:"system" turn after the user's prompt.
func lastTurn(arr gjson.Result) gjson.Result {
	var buf [8]string
	for _, raw := range tailElements(arr, buf[:]) {
		m := gjson.Parse(raw)
		switch m.Get("role").Str {
		case "system", "developer":
			continue
		}
		return m
	}
	return gjson.Result{}
}

// lastUserText returns the last text part of the last conversational
// message when that message is the user's (a tool result is not a prompt).
func lastUserText(msgs gjson.Result) (string, bool) {
	last := lastTurn(msgs)
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
	last := lastTurn(in)
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
