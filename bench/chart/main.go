// Command chart draws the bar charts of bench/run.sh from the markdown
// table it writes: for each suite that has nginx rows, one PNG with a group
// of bars per (size, connections) and a bar per server, its height the
// server's req/s over nginx's in the same group (the "× nginx" column), with
// a line at 1.0.
//
//	go run ./bench/chart -in bench/results/run-2026-12-01-1500.md -out bench/results/run-2026-12-01-1500
//
// writes run-2026-12-01-1500-http.png, -tls.png, ... next to the table. It
// uses only the standard library's image packages and x/image's basicfont.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"log"
	"os"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// row is one line of the results table.
type row struct {
	suite, size, conns, server string
	ratio                      float64 // the × nginx column
	ok                         bool    // whether that column held a number
}

func main() {
	in := flag.String("in", "", "the run-*.md file bench/run.sh wrote")
	out := flag.String("out", "", "output prefix: <out>-<suite>.png (default: -in without .md)")
	flag.Parse()
	if *in == "" {
		log.Fatal("chart: -in is required")
	}
	if *out == "" {
		*out = strings.TrimSuffix(*in, ".md")
	}
	rows, err := readTable(*in)
	if err != nil {
		log.Fatalf("chart: %v", err)
	}
	title := strings.TrimSuffix(strings.TrimPrefix(lastPath(*in), "run-"), ".md")
	for _, suite := range suites(rows) {
		var rs []row
		hasRatio := false
		for _, r := range rows {
			if r.suite == suite {
				rs = append(rs, r)
				hasRatio = hasRatio || (r.ok && r.server != "nginx")
			}
		}
		if !hasRatio {
			continue // no nginx in this suite (reval)
		}
		img := drawChart(fmt.Sprintf("%s: req/s over nginx's (same size and connections), run %s", suite, title), rs)
		name := fmt.Sprintf("%s-%s.png", *out, suite)
		if err := writePNG(name, img); err != nil {
			log.Fatalf("chart: %v", err)
		}
		fmt.Println(name)
	}
}

func lastPath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// readTable reads the rows of the table whose header starts "| suite | size |".
func readTable(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the results: %w", err)
	}
	defer f.Close()
	var rows []row
	col := -1
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if in && len(rows) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if !in {
			if len(cells) > 4 && cells[0] == "suite" && cells[1] == "size" {
				for i, c := range cells {
					if c == "× nginx" {
						col = i
					}
				}
				if col < 0 {
					return nil, fmt.Errorf("%s: the table has no × nginx column", path)
				}
				in = true
			}
			continue
		}
		if strings.HasPrefix(cells[0], "---") || len(cells) <= col {
			continue
		}
		v, err := strconv.ParseFloat(cells[col], 64)
		rows = append(rows, row{suite: cells[0], size: cells[1], conns: cells[2], server: cells[3], ratio: v, ok: err == nil})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no results table found", path)
	}
	return rows, nil
}

func suites(rows []row) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.suite] {
			seen[r.suite] = true
			out = append(out, r.suite)
		}
	}
	return out
}

// palette gives each server the same colour in every chart.
var palette = map[string]color.RGBA{
	"r2gate-mem":           {0xd9, 0x48, 0x1c, 0xff},
	"r2gate-disk":          {0xf2, 0x8e, 0x2b, 0xff},
	"r2gate-miss":          {0xe1, 0x57, 0x59, 0xff},
	"floor":                {0x59, 0x3d, 0x91, 0xff},
	"file_server":          {0x76, 0xb7, 0xb2, 0xff},
	"file_server_sendfile": {0x3b, 0x8b, 0x84, 0xff},
	"respond":              {0x9c, 0xc9, 0x5d, 0xff},
	"nginx":                {0x2f, 0x6f, 0xb0, 0xff},
	"varnish":              {0x8c, 0x6d, 0x31, 0xff},
	"versitygw":            {0x9a, 0x9a, 0x9a, 0xff},
}

func colourOf(server string) color.RGBA {
	if c, ok := palette[server]; ok {
		return c
	}
	return color.RGBA{0x55, 0x55, 0x55, 0xff}
}

const (
	barW     = 34
	barGap   = 4
	groupGap = 36
	marginL  = 60
	marginR  = 20
	top      = 70
	plotH    = 360
	bottom   = 60
)

var (
	face  = basicfont.Face7x13
	black = color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey  = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// drawChart draws one suite's bars.
func drawChart(title string, rows []row) *image.RGBA {
	type group struct {
		label string
		rows  []row
	}
	var groups []group
	var servers []string
	seenSrv := map[string]bool{}
	maxV := 1.0
	for _, r := range rows {
		label := r.size + " c=" + r.conns
		if len(groups) == 0 || groups[len(groups)-1].label != label {
			groups = append(groups, group{label: label})
		}
		g := &groups[len(groups)-1]
		g.rows = append(g.rows, r)
		if !seenSrv[r.server] {
			seenSrv[r.server] = true
			servers = append(servers, r.server)
		}
		if r.ok && r.ratio > maxV {
			maxV = r.ratio
		}
	}
	maxV = float64(int(maxV*4)+1) / 4 // up to the next quarter
	plotW := 0
	for _, g := range groups {
		plotW += len(g.rows)*(barW+barGap) + groupGap
	}
	legendW := 0
	for _, s := range servers {
		legendW += 16 + textW(s) + 14
	}
	w := marginL + max(plotW, legendW) + marginR
	h := top + plotH + bottom
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)

	text(img, marginL, 18, title, black)
	// legend
	x := marginL
	for _, s := range servers {
		fill(img, x, 30, 12, 12, colourOf(s))
		text(img, x+16, 41, s, black)
		x += 16 + textW(s) + 14
	}
	y0 := top + plotH // the zero line
	yOf := func(v float64) int { return y0 - int(v/maxV*float64(plotH)) }
	// grid every 0.25 and its labels
	for v := 0.0; v <= maxV+1e-9; v += 0.25 {
		y := yOf(v)
		fill(img, marginL, y, plotW, 1, grey)
		text(img, 8, y+4, fmt.Sprintf("%.2f", v), black)
	}
	x = marginL + groupGap/2
	for _, g := range groups {
		gx := x
		for _, r := range g.rows {
			if r.ok {
				y := yOf(r.ratio)
				fill(img, x, y, barW, y0-y, colourOf(r.server))
				s := fmt.Sprintf("%.2f", r.ratio)
				text(img, x+(barW-textW(s))/2, y-3, s, black)
			} else {
				text(img, x+(barW-textW("-"))/2, y0-3, "-", black)
			}
			x += barW + barGap
		}
		text(img, gx+(x-gx-textW(g.label))/2, y0+20, g.label, black)
		x += groupGap
	}
	// the nginx line at 1.0, drawn last so it shows over the bars
	for xx := marginL; xx < marginL+plotW; xx += 6 {
		fill(img, xx, yOf(1), 3, 2, colourOf("nginx"))
	}
	fill(img, marginL, y0, plotW, 1, black)
	text(img, marginL, h-14, "bars: req/s / nginx's req/s in the same group (dashed line: nginx = 1.00); medians of the rounds", black)
	return img
}

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), image.NewUniform(c), image.Point{}, draw.Src)
}

func textW(s string) int {
	return font.MeasureString(face, s).Ceil()
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func writePNG(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
