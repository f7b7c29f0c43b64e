package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// colors are the workloads' line colors, in order of appearance.
var colors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"}

// plotFiles draws the results saved in JSON files (-json) of several
// systems together, as plotSVG; an empty title names the systems.
func plotFiles(path, title string, files [][2]string) error {
	var all []result
	var systems []string
	for _, sf := range files {
		b, err := os.ReadFile(sf[1])
		if err != nil {
			return err
		}
		var rs []result
		if err := json.Unmarshal(b, &rs); err != nil {
			return fmt.Errorf("%s: %w", sf[1], err)
		}
		for i := range rs {
			rs[i].System = sf[0]
		}
		all = append(all, rs...)
		if !slices.Contains(systems, sf[0]) {
			systems = append(systems, sf[0])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if title == "" {
		title = strings.Join(systems, " and ")
	}
	return errors.Join(plotSVG(f, title, all), f.Close())
}

// line is what plotSVG draws as one line: a workload of a system.
type line struct{ system, workload string }

func (l line) String() string { return strings.TrimSpace(l.system + " " + l.workload) }

// plotSVG draws throughput and p99 latency against the number of sessions,
// one line per workload and system, side by side, as an SVG document: a
// color per workload, a dash pattern per system. Runs of one session count
// only are drawn as points.
func plotSVG(w io.Writer, title string, results []result) error {
	byLine := map[line][]result{}
	var names []line
	var workloads, systems []string
	for _, r := range results {
		l := line{r.System, r.Workload}
		if _, ok := byLine[l]; !ok {
			names = append(names, l)
		}
		byLine[l] = append(byLine[l], r)
		if !slices.Contains(workloads, r.Workload) {
			workloads = append(workloads, r.Workload)
		}
		if !slices.Contains(systems, r.System) {
			systems = append(systems, r.System)
		}
	}
	for _, rs := range byLine {
		slices.SortFunc(rs, func(a, b result) int { return a.Sessions - b.Sessions })
	}
	dashes := []string{"", "6,4", "2,3", "10,3,2,3"}
	style := func(l line) (color, dash string) {
		color = colors[slices.Index(workloads, l.workload)%len(colors)]
		if d := dashes[slices.Index(systems, l.system)%len(dashes)]; d != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, d)
		}
		return color, dash
	}
	const (
		panelW, panelH = 420, 300
		left, top      = 70, 50
		gap            = 110
	)
	width := left + 2*panelW + gap + 40
	height := top + panelH + 60 + 18*len(names)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="24" font-size="16">%s</text>`+"\n", left, escape(title))
	maxSessions := 1
	for _, r := range results {
		maxSessions = max(maxSessions, r.Sessions)
	}
	panel := func(x0 int, label string, value func(result) float64) {
		maxV := 0.0
		for _, r := range results {
			maxV = math.Max(maxV, value(r))
		}
		if maxV == 0 {
			maxV = 1
		}
		maxV = niceCeil(maxV)
		xOf := func(s int) float64 {
			// Session counts grow geometrically: a log scale spreads them.
			if maxSessions == 1 {
				return float64(x0) + panelW/2
			}
			return float64(x0) + math.Log2(float64(s))/math.Log2(float64(maxSessions))*panelW
		}
		yOf := func(v float64) float64 { return float64(top+panelH) - v/maxV*panelH }
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0, top, panelW, panelH)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x0, top-8, escape(label))
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			y := yOf(v)
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
				x0, x0+panelW, y, y, x0-4, y+4, short(v))
		}
		var ticks []int
		for _, r := range results {
			if !slices.Contains(ticks, r.Sessions) {
				ticks = append(ticks, r.Sessions)
			}
		}
		for _, s := range ticks {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", xOf(s), top+panelH+16, s)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">sessions</text>`+"\n", x0+panelW/2, top+panelH+34)
		for _, name := range names {
			var pts []string
			for _, r := range byLine[name] {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(r.Sessions), yOf(value(r))))
			}
			color, dash := style(name)
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
			for _, pt := range pts {
				xy := strings.Split(pt, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], color)
			}
		}
	}
	panel(left, "throughput, ops/s", func(r result) float64 { return r.OpsPerS })
	panel(left+panelW+gap, "p99 latency, ms", func(r result) float64 { return r.P99us / 1000 })
	for i, name := range names {
		y := top + panelH + 56 + 18*i
		color, dash := style(name)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"%s/><text x="%d" y="%d">%s</text>`+"\n",
			left, left+24, y, y, color, dash, left+30, y+4, escape(name.String()))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// short prints an axis value compactly.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", math.Round(v*100)/100)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
