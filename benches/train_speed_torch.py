# Training-step speed of a multiple-choice model (BERT, MPNet) in PyTorch on CPU (2 threads): batch 16
# questions x 5 choices x LENGTH tokens, AdamW, clipping, dropout on; the reference for
# benches/train_speed.sh. Usage: train_speed_torch.py MODEL_DIR [STEPS] [LENGTH]
import sys, time, torch
from transformers import AutoModelForMultipleChoice
torch.manual_seed(0)
torch.set_num_threads(2)
m = AutoModelForMultipleChoice.from_pretrained(sys.argv[1])
m.train()
opt = torch.optim.AdamW(m.parameters(), lr=5e-5, weight_decay=0.01)
L = int(sys.argv[3]) if len(sys.argv) > 3 else 64
ids = torch.randint(1000, 20000, (16, 5, L))
mask = torch.ones_like(ids)
tt = torch.zeros_like(ids)
labels = torch.randint(0, 5, (16,))
times = []
for step in range(int(sys.argv[2]) if len(sys.argv) > 2 else 6):
    t = time.perf_counter()
    types = {} if m.config.model_type == "mpnet" else {"token_type_ids": tt}
    out = m(input_ids=ids, attention_mask=mask, labels=labels, **types)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step(); opt.zero_grad()
    times.append(time.perf_counter() - t)
steady = sorted(times[1:])[len(times[1:]) // 2]
print(f"pytorch step_s={steady:.3f} questions_per_s={16 / steady:.2f}")
