package onec

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/forteleasing/inspections/internal/push"
	"github.com/forteleasing/inspections/reports"
)

// PushTokens finds whom to notify (the auth store provides it).
type PushTokens interface {
	CompanyPushTokens(ctx context.Context, companyID int64) ([]string, error)
	UploaderAndDirectorPushTokens(ctx context.Context, companyID, uploaderID int64) ([]string, error)
}

// Enqueuer sends in the background with retries (push.Dispatcher).
type Enqueuer interface {
	Enqueue(tokens []string, n push.Notification)
}

// PushNotifier tells the app about new tasks and decisions, after the change is committed. It only
// looks up tokens and queues; a failure is logged and never reaches 1C's request.
type PushNotifier struct {
	tokens PushTokens
	queue  Enqueuer
	log    *slog.Logger
}

func NewPushNotifier(tokens PushTokens, queue Enqueuer, log *slog.Logger) *PushNotifier {
	return &PushNotifier{tokens: tokens, queue: queue, log: log}
}

func (p *PushNotifier) NewTasks(ctx context.Context, tasks []NewTask) {
	ctx = context.WithoutCancel(ctx)
	for _, t := range tasks {
		tokens, err := p.tokens.CompanyPushTokens(ctx, t.CompanyID)
		if err != nil {
			p.log.Error("push: look up company devices", "company_id", t.CompanyID, "err", err)
			continue
		}
		p.queue.Enqueue(tokens, push.Notification{
			Title: "Новая задача: отчёт №" + t.ReportNumber,
			Body:  "Снимите видео осмотра транспорта и отправьте отчёт в приложении.",
			Data:  map[string]string{"ref_key": t.RefKey, "status_code": strconv.Itoa(reports.StatusToSubmit)},
		})
	}
}

func (p *PushNotifier) Decided(ctx context.Context, d Decided) {
	ctx = context.WithoutCancel(ctx)
	tokens, err := p.tokens.UploaderAndDirectorPushTokens(ctx, d.CompanyID, d.UploaderID)
	if err != nil {
		p.log.Error("push: look up devices", "company_id", d.CompanyID, "err", err)
		return
	}
	n := push.Notification{
		Title: "Отчёт №" + d.ReportNumber + " одобрен",
		Body:  "Спасибо! Видео осмотра принято.",
		Data:  map[string]string{"ref_key": d.RefKey, "status_code": strconv.Itoa(d.StatusCode)},
	}
	if d.StatusCode == reports.StatusRejected {
		n.Title = "Отчёт №" + d.ReportNumber + " отклонён"
		n.Body = fmt.Sprintf("Причина: %s. Снимите видео заново.", d.RejectReason)
		n.Data["reject_reason"] = d.RejectReason
	}
	p.queue.Enqueue(tokens, n)
}
