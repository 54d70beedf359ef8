package alert

import "context"

// SetPlanSizes makes batches and checkpoints small for a test and returns
// the function that restores them.
func SetPlanSizes(lineBatch, checkpoint int) (restore func()) {
	oldBatch, oldCheckpoint := batchSize[ChannelLINE], checkpointEvery
	batchSize[ChannelLINE], checkpointEvery = lineBatch, checkpoint
	return func() { batchSize[ChannelLINE], checkpointEvery = oldBatch, oldCheckpoint }
}

// CheckDone runs the completion check the periodic sweep runs.
func (d *Dispatcher) CheckDone(ctx context.Context, id string) error { return d.checkDone(ctx, id) }
