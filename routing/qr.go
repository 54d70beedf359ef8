package routing

import (
	"bytes"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// maxQRContent bounds what a QR code may hold: check-in links are short, and
// the endpoints that draw them must not become a free QR generator.
const maxQRContent = 512

// qrSVG draws content as a QR code (error correction M, 4-module quiet
// zone) in SVG, one module per user unit, dark modules as one path of
// horizontal runs. The title is the accessible name of the image.
func qrSVG(content, title string) ([]byte, error) {
	if len(content) > maxQRContent {
		return nil, fmt.Errorf("qr: content of %d bytes, at most %d", len(content), maxQRContent)
	}
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	bm := q.Bitmap() // with the quiet zone
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img">`, n, n)
	b.WriteString("<title>")
	xmlEscape(&b, title)
	b.WriteString("</title>")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes(), nil
}

func xmlEscape(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
}
