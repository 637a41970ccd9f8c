// Each library source file appends its kernels' definitions; register.cpp
// adds them all to a registry. Internal to kiln_kernels.
#pragma once

#include <vector>

#include "kiln/kernels/kernel_registry.h"

namespace kiln::kernels::lib {

void append_binary_kernels(std::vector<KernelDef>& out);
void append_unary_kernels(std::vector<KernelDef>& out);
void append_cast_kernels(std::vector<KernelDef>& out);
void append_compare_kernels(std::vector<KernelDef>& out);
void append_where_kernels(std::vector<KernelDef>& out);
void append_fused_kernels(std::vector<KernelDef>& out);
void append_reduce_kernels(std::vector<KernelDef>& out);
void append_softmax_kernels(std::vector<KernelDef>& out);
void append_norm_kernels(std::vector<KernelDef>& out);
void append_add_norm_kernels(std::vector<KernelDef>& out);
void append_batch_norm_kernels(std::vector<KernelDef>& out);
void append_cumsum_kernels(std::vector<KernelDef>& out);
void append_data_movement_kernels(std::vector<KernelDef>& out);
void append_gather_kernels(std::vector<KernelDef>& out);
void append_pool_kernels(std::vector<KernelDef>& out);
void append_pad_kernels(std::vector<KernelDef>& out);
void append_resize_kernels(std::vector<KernelDef>& out);
void append_generate_kernels(std::vector<KernelDef>& out);
void append_sdpa_kernels(std::vector<KernelDef>& out);

}  // namespace kiln::kernels::lib
