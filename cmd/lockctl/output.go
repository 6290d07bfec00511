package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// printer writes a command's result as a table for people or as one JSON
// document (the schema in docs/LOCKCTL.md) for programs.
type printer struct {
	json bool
	w    io.Writer
}

func newPrinter(format string, w io.Writer) (printer, error) {
	switch format {
	case "table":
		return printer{w: w}, nil
	case "json":
		return printer{json: true, w: w}, nil
	}
	return printer{}, usagef("-o must be table or json, not %q", format)
}

// print writes doc as indented JSON, or calls table.
func (p printer) print(doc any, table func(t *tableWriter)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	t := &tableWriter{tw: tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)}
	table(t)
	return t.tw.Flush()
}

// line writes doc as one compact JSON line (a stream of events), or the
// text line.
func (p printer) line(doc any, text string) error {
	if p.json {
		return json.NewEncoder(p.w).Encode(doc)
	}
	_, err := fmt.Fprintln(p.w, text)
	return err
}

// tableWriter aligns tab-separated columns.
type tableWriter struct{ tw *tabwriter.Writer }

// row writes one row; nil-free cells are formatted with %v.
func (t *tableWriter) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

// text writes a line outside the columns' alignment.
func (t *tableWriter) text(format string, args ...any) {
	fmt.Fprintf(t.tw, format+"\n", args...)
}

// orDash is s, or "-" when s is empty, so table columns never collapse.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age formats how long ago t was, rounded for people.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// seconds is d in seconds, for JSON.
func seconds(d time.Duration) float64 { return d.Seconds() }

// timestamp formats t for JSON (RFC 3339, UTC, nanoseconds); "" when zero.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// formatUint formats n in decimal.
func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
