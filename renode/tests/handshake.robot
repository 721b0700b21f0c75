*** Comments ***
bench firmware boots on our Renode platforms and answers the host's HELLO
with its handshake on the console UART. Run from the repository root:

    renode-test renode/tests/handshake.robot \
        --variable STM32L452_ELF:$PWD/build/renode-stm32l452/firmware.elf \
        --variable APOLLO3_ELF:$PWD/build/renode-apollo3/firmware.elf

Firmware built with: bench build --board B --model M --link uart -o DIR
Needs Renode >= 1.16 (binaryMode and Wait For Bytes On Uart).

*** Settings ***
Suite Setup       Setup
Suite Teardown    Teardown
Test Teardown     Test Teardown
Resource          ${RENODEKEYWORDS}

*** Variables ***
${RENODE_DIR}       ${CURDIR}/..
${STM32L452_ELF}    ${CURDIR}/../../build/renode-stm32l452/firmware.elf
${APOLLO3_ELF}      ${CURDIR}/../../build/renode-apollo3/firmware.elf
# HELLO, seq 0, no payload: sync A5 5A, type 01, flags 00, seq 0000, length 0000, CRC-32.
@{HELLO}            0xA5  0x5A  0x01  0x00  0x00  0x00  0x00  0x00  0x06  0x72  0x9E  0x7A
# HELLO_ACK header: type 81, seq 0, 84-byte payload; then protocol version 1.
${HELLO_ACK}        A5 5A 81 00 00 00 54 00 01 00

*** Keywords ***
Boot Board
    [Arguments]    ${board}    ${elf}    ${uart}
    Execute Command    $elf=@${elf}
    Execute Command    $repl=@${RENODE_DIR}/${board}.repl
    Execute Command    include @${RENODE_DIR}/${board}.resc
    Create Terminal Tester    ${uart}    binaryMode=true    defaultPauseEmulation=true
    # Boot first: a HELLO sent before the firmware enables its UART is
    # rejected (PL011) or dropped (STM32 USART). Bench's host retries; this test
    # sends once. The emulation stays paused until the wait below.
    Execute Command    emulation RunFor "0.001"

Say Hello
    FOR    ${byte}    IN    @{HELLO}
        Send Key To Uart    ${byte}
    END

*** Test Cases ***
STM32L452 Answers HELLO On USART2
    Boot Board    stm32l452    ${STM32L452_ELF}    sysbus.usart2
    Say Hello
    Wait For Bytes On Uart    ${HELLO_ACK}    timeout=10

Apollo3 Answers HELLO On UART0
    Boot Board    apollo3    ${APOLLO3_ELF}    sysbus.uart0
    Say Hello
    Wait For Bytes On Uart    ${HELLO_ACK}    timeout=10
