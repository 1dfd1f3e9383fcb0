package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coder/serpent"
)

// Output formats of list commands.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// outputOption is the -o/--output flag of list commands.
func outputOption(format *string) serpent.Option {
	return serpent.Option{
		Flag:          "output",
		FlagShorthand: "o",
		Description:   "Output format: table or json.",
		Default:       formatTable,
		Value:         serpent.EnumOf(format, formatTable, formatJSON),
	}
}

// writeJSON prints v as indented JSON. Callers turn nil slices into empty
// ones first, so that scripts always get [] rather than null.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable prints an aligned table with upper-case headers.
func writeTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	upper := make([]string, len(headers))
	for i, h := range headers {
		upper[i] = strings.ToUpper(h)
	}
	if _, err := fmt.Fprintln(tw, strings.Join(upper, "\t")); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := fmt.Fprintln(tw, strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// formatTime renders a timestamp for tables; zero and Unix-epoch times (a
// key that was never used) print as "never".
func formatTime(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
