// Package templates embeds the shipped alert templates (*.yaml in this
// directory) so the one binary always has them; alerts.templates_dir in the
// configuration loads another directory instead. See package
// alert/template for the format.
package templates

import "embed"

// FS holds the shipped *.yaml templates.
//
//go:embed *.yaml
var FS embed.FS
