// SPDX-License-Identifier: GPL-2.0
/*
 * mmreplay kernel lab: struct offsets the kprobes dereference, compiled with
 * the kernel's own flags (lab.sh copies this into <tree>/lab-offsets/ and runs
 * `make lab-offsets/offsets.s`; the "->NAME VALUE" lines are the answers).
 * struct make_exclusive_args is private to mm/rmap.c; it is copied here
 * verbatim from mm/rmap.c (6.12 lines 2402-2407; identical in 6.1, lines 2188-2193).
 */
#include <linux/kbuild.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/rmap.h>
#include <linux/swap.h>
#include <linux/version.h>

struct make_exclusive_args {
	struct mm_struct *mm;
	unsigned long address;
	void *owner;
	bool valid;
};

int main(void);
int main(void)
{
	DEFINE(args_mm, offsetof(struct make_exclusive_args, mm));
	DEFINE(args_address, offsetof(struct make_exclusive_args, address));
	DEFINE(args_owner, offsetof(struct make_exclusive_args, owner));
	DEFINE(args_valid, offsetof(struct make_exclusive_args, valid));
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
	DEFINE(range_vma, offsetof(struct mmu_notifier_range, vma));
#endif
	DEFINE(range_mm, offsetof(struct mmu_notifier_range, mm));
	DEFINE(range_start, offsetof(struct mmu_notifier_range, start));
	DEFINE(range_end, offsetof(struct mmu_notifier_range, end));
	DEFINE(range_flags, offsetof(struct mmu_notifier_range, flags));
	DEFINE(range_event, offsetof(struct mmu_notifier_range, event));
	DEFINE(range_owner, offsetof(struct mmu_notifier_range, owner));
	DEFINE(vmf_vma, offsetof(struct vm_fault, vma));
	DEFINE(vmf_address, offsetof(struct vm_fault, address));
	DEFINE(vmf_flags, offsetof(struct vm_fault, flags));
	DEFINE(vmf_orig_pte, offsetof(struct vm_fault, orig_pte));
	DEFINE(vma_vm_start, offsetof(struct vm_area_struct, vm_start));
	DEFINE(vma_vm_end, offsetof(struct vm_area_struct, vm_end));
	DEFINE(vma_vm_mm, offsetof(struct vm_area_struct, vm_mm));
	DEFINE(vma_vm_flags, offsetof(struct vm_area_struct, vm_flags));
	DEFINE(rwc_rmap_one, offsetof(struct rmap_walk_control, rmap_one));
	DEFINE(folio_flags, offsetof(struct folio, flags));
	DEFINE(folio_mapcount, offsetof(struct folio, _mapcount));
	DEFINE(folio_refcount, offsetof(struct folio, _refcount));
	DEFINE(folio_mapping, offsetof(struct folio, mapping));
	DEFINE(folio_index, offsetof(struct folio, index));
	DEFINE(rwc_arg, offsetof(struct rmap_walk_control, arg));
	DEFINE(rwc_try_lock, offsetof(struct rmap_walk_control, try_lock));
	DEFINE(rwc_contended, offsetof(struct rmap_walk_control, contended));
	DEFINE(page_mapcount, offsetof(struct page, _mapcount));
	DEFINE(page_refcount, offsetof(struct page, _refcount));
	DEFINE(sizeof_page, sizeof(struct page));
	DEFINE(mmu_notify_exclusive, MMU_NOTIFY_EXCLUSIVE);
	DEFINE(max_swapfiles, MAX_SWAPFILES);
	DEFINE(swp_device_exclusive_write, SWP_DEVICE_EXCLUSIVE_WRITE);
	DEFINE(swp_device_exclusive_read, SWP_DEVICE_EXCLUSIVE_READ);
	return 0;
}
