/* A tiny multiboot guest for compute driver tests (i386, GNU as).
 * It prints a line on COM1, then waits with hlt (timer interrupts wake it) for the ACPI
 * power button and answers it by entering S5 (soft off), as an OS would. This lets tests
 * see a serial console, a graceful ACPI shutdown and an ACPI reboot without a real OS. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .set COM1, 0x3f8
        .section .text
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .globl _start
_start:
        cli
        lgdt gdt_ptr
        ljmp $0x08, $reload
reload:
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $stack_top, %esp

        mov $hello, %esi
        call puts

        /* IDT: every vector -> irq_stub (ack both PICs, iret). */
        mov $idt, %edi
        mov $irq_stub, %eax
        mov $256, %ecx
1:      mov %ax, (%edi)
        movw $0x08, 2(%edi)
        movw $0x8E00, 4(%edi)
        mov %eax, %edx
        shr $16, %edx
        mov %dx, 6(%edi)
        add $8, %edi
        loop 1b
        lidt idt_ptr

        /* PM I/O base: PCI 00:01.3 (PIIX4 PM) config register 0x40. */
        mov $0x80000B40, %eax
        mov $0xCF8, %dx
        outl %eax, %dx
        mov $0xCFC, %dx
        inl %dx, %eax
        and $0xFFC0, %eax
        mov %eax, %ebx

        /* ACPI enable through SMI_CMD, then PWRBTN_EN in PM1a_EN. */
        mov $0xf1, %al
        out %al, $0xb2
        lea 2(%ebx), %edx
        mov $0x0100, %ax
        outw %ax, %dx

        sti
wait:   hlt
        mov %ebx, %edx
        inw %dx, %ax
        test $0x0100, %ax
        jz wait

        mov $bye, %esi
        call puts
        /* Clear PWRBTN_STS, then SLP_TYP=0 (S5 on QEMU's PIIX4) | SLP_EN. */
        mov %ebx, %edx
        mov $0x0100, %ax
        outw %ax, %dx
        lea 4(%ebx), %edx
        mov $0x2000, %ax
        outw %ax, %dx
halt:   hlt
        jmp halt

puts:   mov $COM1, %dx
2:      lodsb
        test %al, %al
        jz 3f
        out %al, %dx
        jmp 2b
3:      ret

irq_stub:
        push %eax
        mov $0x20, %al
        out %al, $0xa0
        out %al, $0x20
        pop %eax
        iret

        .section .data
        .align 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF
        .quad 0x00CF92000000FFFF
gdt_ptr:
        .word 23
        .long gdt
idt_ptr:
        .word 256 * 8 - 1
        .long idt
hello:  .asciz "atoll tiny guest: up\n"
bye:    .asciz "atoll tiny guest: ACPI power button, powering off\n"

        .section .bss
        .align 16
idt:    .skip 256 * 8
        .skip 4096
stack_top:
