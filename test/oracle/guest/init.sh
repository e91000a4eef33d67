#!/bin/sh
# The oracle's guest: PID 1 of a busybox initramfs booted under QEMU (test/oracle/qemu.ts).
# It loads the virtio modules listed in /oracle/modules (in modules.dep order, dependencies
# first), then drives every virtio PCI function through the oracle's steps and prints, before
# the first step and after each one, the raw configuration space of every PCI function, each
# IOMMU group's type and members, and each function's driver. Every line meant for the host
# starts with "ATSIM:"; kernel messages are kept off the console (printk level 1) and printed
# once at the end from dmesg, also marked. Then the machine powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo 1 > /proc/sys/kernel/printk

out() { echo "ATSIM:$*"; }
# The last path component of a symlink's target, or "-" when there is no such link.
link() {
  t=$(readlink "$1" 2>/dev/null)
  if [ -n "$t" ]; then echo "${t##*/}"; else echo -; fi
}

out "BEGIN $(uname -r)"
out "CMDLINE $(cat /proc/cmdline)"

# Compressed modules are unpacked into a scratch folder made at run time.
work=$(mktemp -d)
for m in $(cat /oracle/modules); do
  case "$m" in
    *.xz) xzcat "/oracle/$m" > "$work/m.ko" ;;
    *) cp "/oracle/$m" "$work/m.ko" ;;
  esac
  if msg=$(insmod "$work/m.ko" 2>&1); then out "MODULE $m ok"; else out "MODULE $m err $msg"; fi
done
rm -rf "$work"

# The functions the steps act on: those virtio-pci bound at boot.
TARGETS=""
for d in /sys/bus/pci/devices/*; do
  [ "$(link "$d/driver")" = virtio-pci ] && TARGETS="$TARGETS ${d##*/}"
done
out "TARGETS$TARGETS"

# wr FILE VALUE: writes VALUE to FILE; prints ok or err and the error text.
wr() {
  if msg=$( (echo "$2" > "$1") 2>&1 ); then echo ok; else echo "err ${msg##*: }"; fi
}

record() {
  out "STEP $1"
  for d in /sys/bus/pci/devices/*; do
    b=${d##*/}
    out "FN $b driver=$(link "$d/driver") group=$(link "$d/iommu_group") size=$(wc -c < "$d/config")"
    hexdump -e '"ATSIM:H %03_ax:" 16/1 " %02x" "\n"' "$d/config" | sed 's/^\*$/ATSIM:H */'
  done
  for g in /sys/kernel/iommu_groups/*; do
    out "GROUP ${g##*/} type=$(cat "$g/type" 2>/dev/null) devices=$(ls "$g/devices" | tr '\n' ' ')"
  done
  out "END $1"
}

# The ATS extended capability's offset in a function's config space, or nothing.
ats_offset() {
  off=256
  while [ "$off" -ge 256 ] && [ "$off" -lt 4096 ]; do
    v=$(od -A n -t x4 -j "$off" -N 4 "$1/config" | tr -d ' ')
    [ -n "$v" ] || return
    v=$((0x$v))
    [ $((v & 0xffff)) -eq 15 ] && { echo "$off"; return; }
    off=$(((v >> 20) & 0xffc))
  done
}

for b in $TARGETS; do
  out "ATTR $b reset_method=$(cat /sys/bus/pci/devices/$b/reset_method 2>/dev/null | tr ' ' ,)"
done

record boot

for b in $TARGETS; do out "OP unbind $b $(wr /sys/bus/pci/devices/$b/driver/unbind $b)"; done
record unbind

for b in $TARGETS; do out "OP bind $b $(wr /sys/bus/pci/drivers/virtio-pci/bind $b)"; done
record bind

# The default domain type can only change on a function without a driver.
for b in $TARGETS; do out "OP unbind $b $(wr /sys/bus/pci/devices/$b/driver/unbind $b)"; done
record unbind-again

for b in $TARGETS; do
  g=$(readlink /sys/bus/pci/devices/$b/iommu_group); g=${g##*/}
  out "OP set-group-type:identity $b $(wr /sys/kernel/iommu_groups/$g/type identity)"
done
record identity

for b in $TARGETS; do
  g=$(readlink /sys/bus/pci/devices/$b/iommu_group); g=${g##*/}
  out "OP set-group-type:DMA $b $(wr /sys/kernel/iommu_groups/$g/type DMA)"
done
record dma

# QEMU's reset leaves ATS Enable as it was: clear the ATS control register first, so that what
# it reads after the reset is what the kernel wrote back.
for b in $TARGETS; do
  o=$(ats_offset /sys/bus/pci/devices/$b)
  if [ -n "$o" ]; then
    printf '\000\000' | dd of=/sys/bus/pci/devices/$b/config bs=2 seek=$(((o + 6) / 2)) count=1 conv=notrunc 2>/dev/null
    # Read back, so the host can tell that the clear took.
    out "ATSCLEAR $b $o ctrl=$(od -A n -t x2 -j $((o + 6)) -N 2 /sys/bus/pci/devices/$b/config | tr -d ' ')"
  fi
  out "OP reset $b $(wr /sys/bus/pci/devices/$b/reset 1)"
done
record reset

out "DMESG"
dmesg | sed 's/^/ATSIM:K /'
out "DONE"
sync
poweroff -f
