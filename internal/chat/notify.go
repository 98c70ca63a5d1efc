package chat

import (
	"bytes"
	"context"
	"image"
	"image/color"
	_ "image/gif" // decoders for thumbnails
	"image/jpeg"
	_ "image/png"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// afterMessage notifies the members who are not looking and feeds webhooks.
func (s *Service) afterMessage(ctx context.Context, me Identity, m store.Message, data textData, members []string) {
	conv, err := s.st.Conversation(ctx, m.ConversationID)
	if err != nil {
		s.log.Error("chat: notify", "conversation", m.ConversationID, "err", err)
		return
	}
	if s.cfg.Hooks != nil {
		s.cfg.Hooks.MessageCreated(conv, entry(m))
	}
	if s.cfg.Notifier == nil {
		return
	}
	title := me.DisplayName
	if conv.Kind != store.Direct && conv.Name != "" {
		title += " in " + conv.Name
	}
	// Who muted the conversation is asked once, when someone needs a push:
	// one query per message, not one per member.
	var muted map[string]bool
	isMuted := func(u string) bool {
		if muted == nil {
			ids, err := s.st.MutedMembers(ctx, conv.ID)
			if err != nil {
				s.log.Error("chat: notify", "conversation", conv.ID, "err", err)
				ids = members // not knowing, only mentions notify
			}
			muted = make(map[string]bool, len(ids))
			for _, id := range ids {
				muted[id] = true
			}
		}
		return muted[u]
	}
	for _, u := range members {
		if u == me.UserID {
			continue
		}
		mentioned := data.Everyone || slices.Contains(data.Mentions, u)
		if !s.shouldPush(u, mentioned, isMuted) {
			continue
		}
		n := Notification{Type: "message", Title: title, Body: "New message", URL: "/#/c/" + conv.ID, Tag: conv.ID, Conversation: conv.ID}
		if mentioned {
			n.Type, n.Body = "mention", "Mentioned you"
		}
		if s.cfg.PushText {
			n.Body = preview(m.Text, len(data.Attachments))
		}
		s.cfg.Notifier.Notify(ctx, u, n)
	}
}

// shouldPush decides whether user gets a push for a message: not when one
// of their devices is connected and in use (the app shows it), not in
// do-not-disturb, and not for a muted conversation unless mentioned.
func (s *Service) shouldPush(user string, mentioned bool, muted func(string) bool) bool {
	if s.hub.active(user) || s.pres.status(user) == protocol.StatusDND {
		return false
	}
	return mentioned || !muted(user)
}

// preview shortens a message for a notification.
func preview(text string, files int) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) > 120 {
		r := []rune(text)
		text = string(r[:119]) + "…"
	}
	if text == "" && files > 0 {
		return "Sent a file"
	}
	return text
}

// Thumbnails: images sent in a message get a small JPEG preview, made once
// when the message is sent, so the message list never loads full images.
const (
	thumbSize     = 320
	maxThumbInput = 20 << 20 // bigger images get no preview
	maxThumbPixel = 40e6     // nor do images that would decode to more pixels
)

func (s *Service) thumbnail(ctx context.Context, conv string, f store.File) (string, bool) {
	if !strings.HasPrefix(f.ContentType, "image/") || f.Size > maxThumbInput {
		return "", false
	}
	_, fh, err := s.st.OpenFile(ctx, FileRoom(conv), f.ID)
	if err != nil {
		return "", false
	}
	defer fh.Close()
	// Check the dimensions before decoding: a small file can claim a huge
	// image (a decompression bomb).
	cfg, _, err := image.DecodeConfig(fh)
	if err != nil || float64(cfg.Width)*float64(cfg.Height) > maxThumbPixel {
		return "", false
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return "", false
	}
	img, _, err := image.Decode(fh)
	if err != nil {
		return "", false
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, shrink(img, thumbSize), &jpeg.Options{Quality: 80}); err != nil {
		return "", false
	}
	t, err := s.st.SaveFile(ctx, store.File{Room: FileRoom(conv), Name: "thumbnail.jpg", ContentType: "image/jpeg"}, &buf, int64(buf.Len())+1)
	if err != nil {
		s.log.Warn("chat: thumbnail", "err", err)
		return "", false
	}
	return t.ID, true
}

// shrink scales img to fit in max×max by averaging the source pixels that
// fall in each destination pixel (good enough for previews, no dependency).
func shrink(img image.Image, size int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	scale := float64(size) / float64(w)
	if hs := float64(size) / float64(h); hs < scale {
		scale = hs
	}
	scale = min(scale, 1)
	dw, dh := int(float64(w)*scale+0.5), int(float64(h)*scale+0.5)
	dw, dh = max(dw, 1), max(dh, 1)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		y0, y1 := y*h/dh, max((y+1)*h/dh, y*h/dh+1)
		for x := range dw {
			x0, x1 := x*w/dw, max((x+1)*w/dw, x*w/dw+1)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			dst.Set(x, y, color.RGBA64{uint16(r / n), uint16(g / n), uint16(bl / n), uint16(a / n)})
		}
	}
	return dst
}
